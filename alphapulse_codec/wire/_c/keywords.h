/* Keyword arguments of the message classes' encode, taken straight from a vectorcall.
   Cython's own parsing of a keyword-only signature of eleven names costs about 500
   instructions a call (its wrapper takes a new reference to every value, default or given,
   and gives them all back); a builder needs only the given values, borrowed for the call. */
#ifndef ALPHAPULSE_KEYWORDS_H
#define ALPHAPULSE_KEYWORDS_H

#include <Python.h>

/* Sets values[i] to the keyword argument named names[i] where the call gives one (values
   keep what they held elsewhere: the defaults). Names match by identity: keywords written
   in code are interned, as the names are. Callers write keywords in the signature's order,
   so the name after the last one matched is tried first. Returns -1 when every keyword
   matched, else the position in kwnames of the first that matched no name (a keyword made
   at run time, or one the function does not take), for the caller to leave the call to the
   function's own parsing. */
static inline Py_ssize_t ap_match_keywords(PyObject *const *args, Py_ssize_t nargs,
                                           PyObject *kwnames, PyObject *const *names,
                                           Py_ssize_t count, PyObject **values) {
    Py_ssize_t given = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    Py_ssize_t next = 0;
    for (Py_ssize_t k = 0; k < given; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t i = next < count && names[next] == key ? next : -1;
        for (Py_ssize_t j = 0; i < 0 && j < count; j++)
            if (names[j] == key)
                i = j;
        if (i < 0)
            return k;
        values[i] = args[nargs + k];
        next = i + 1;
    }
    return -1;
}

/* Makes `function` (a function object of the vectorcall protocol) call `call` instead of
   its own entry, which it returns for `call` to hand over the calls it does not take; the
   function's other attributes (signature, docstring) stay as they are. */
static inline void *ap_set_vectorcall(PyObject *function, void *call) {
    PyTypeObject *type = Py_TYPE(function);
    vectorcallfunc *entry;
    void *own;
    if (!PyType_HasFeature(type, Py_TPFLAGS_HAVE_VECTORCALL) || type->tp_vectorcall_offset <= 0) {
        PyErr_Format(PyExc_TypeError, "%.200s objects have no vectorcall entry", type->tp_name);
        return NULL;
    }
    entry = (vectorcallfunc *)((char *)function + type->tp_vectorcall_offset);
    own = (void *)*entry;
    if (own == NULL) {
        PyErr_Format(PyExc_TypeError, "this %.200s has no vectorcall entry", type->tp_name);
        return NULL;
    }
    *entry = (vectorcallfunc)call;
    return own;
}

/* A call through a vectorcall entry that ap_set_vectorcall returned. */
static inline PyObject *ap_vectorcall(void *call, PyObject *function, PyObject *const *args,
                                      size_t nargsf, PyObject *kwnames) {
    return ((vectorcallfunc)call)(function, args, nargsf, kwnames);
}

#endif
