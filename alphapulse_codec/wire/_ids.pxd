# Declarations of _ids.pxi: InstrumentId, and its conversions from and to the wire struct.

cdef extern from *:
    """
    #include <structmember.h>
    /* A read-only member descriptor of the slot `member` describes, added to `type`: the interpreter
       reads such a slot in place (LOAD_ATTR_SLOT) where a getter is a call per read. */
    static int ap_add_member(PyTypeObject* type, PyMemberDef* member) {
        PyObject* descriptor = PyDescr_NewMember(type, member);
        int failed;
        if (descriptor == NULL)
            return -1;
        failed = PyDict_SetItemString(type->tp_dict, member->name, descriptor);
        Py_DECREF(descriptor);
        PyType_Modified(type);
        return failed;
    }
    """
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
        const char* doc
    enum:
        T_OBJECT_EX
        READONLY
    int ap_add_member(PyTypeObject* type, PyMemberDef* member) except -1


cdef class InstrumentId:
    cdef InstrumentId_t v
    # The four parts as Python ints, made with the ID and read by member descriptors of these
    # names: decoded IDs are shared (_iid_shared), so a read makes no int. Owned references.
    cdef PyObject* _venue
    cdef PyObject* _asset_type
    cdef PyObject* _reserved
    cdef PyObject* _asset_id

    cdef str _describe(self)


cdef InstrumentId _iid_new(InstrumentId_t value)
cdef InstrumentId _iid_shared(const InstrumentId_t* value)
cdef InstrumentId_t _iid_arg(object value, str where) except *
