# Declarations of _convert.pxi: the checked conversions of Python values into wire fields and
# the exact ones back.

cdef extern from *:
    """
    /* long is 64 bits on every platform this builds for (LP64: Linux, macOS); the long
       conversions walk the digits where the long long ones take a slower general path. */
    #include <limits.h>
    #if ULONG_MAX != 0xFFFFFFFFFFFFFFFFu
    #error "alphapulse_codec needs a 64-bit long (LP64)"
    #endif
    #define _as_u64(v) ((uint64_t)PyLong_AsUnsignedLong(v))
    #define _as_i64(v) ((int64_t)PyLong_AsLong(v))

    /* The magnitude and sign of int `v` when its magnitude is below 2**64, read from its digits
       (three of 30 bits on 3.11; the one digit of a compact int on 3.12 and later, through
       their API): 1 and the outputs set, else 0 for the callers' general conversion. */
    static inline int ap_int_parts(PyObject *v, uint64_t *magnitude, int *negative) {
    #if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
        Py_ssize_t size = Py_SIZE(v);
        Py_ssize_t digits = size < 0 ? -size : size;
        const digit *d = ((PyLongObject *)v)->ob_digit;
        uint64_t m = 0;
        if (digits > 3 || (digits == 3 && d[2] >> 4))
            return 0;
        if (digits > 0)
            m = d[0];
        if (digits > 1)
            m |= (uint64_t)d[1] << 30;
        if (digits > 2)
            m |= (uint64_t)d[2] << 60;
        *magnitude = m;
        *negative = size < 0;
        return 1;
    #elif PY_VERSION_HEX >= 0x030C0000
        Py_ssize_t value;
        if (!PyUnstable_Long_IsCompact((PyLongObject *)v))
            return 0;
        value = PyUnstable_Long_CompactValue((PyLongObject *)v);
        *negative = value < 0;
        *magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
        return 1;
    #else
        (void)v; (void)magnitude; (void)negative;
        return 0;
    #endif
    }

    /* The builders' conversions where they cannot fail: `v` an int within the bounds. */
    static inline int ap_u64_within(PyObject *v, uint64_t maximum, uint64_t *out) {
        uint64_t magnitude;
        int negative;
        if (!PyLong_Check(v) || !ap_int_parts(v, &magnitude, &negative) || negative
                || magnitude > maximum)
            return 0;
        *out = magnitude;
        return 1;
    }
    static inline int ap_i64_within(PyObject *v, int64_t minimum, int64_t maximum, int64_t *out) {
        uint64_t magnitude;
        int negative;
        if (!PyLong_Check(v) || !ap_int_parts(v, &magnitude, &negative))
            return 0;
        if (negative ? magnitude > (uint64_t)(-(minimum + 1)) + 1 : magnitude > (uint64_t)maximum)
            return 0;
        *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
        return 1;
    }

    /* The interpreter's own ints 0-255 (one reference each, kept), for reads of 8-bit fields
       without a call: set by _keep_small_ints. */
    static PyObject *ap_small_ints[256];
    static inline PyObject *ap_u8_value(uint8_t value) {
        PyObject *result = ap_small_ints[value];
        Py_INCREF(result);
        return result;
    }
    """
    # no Cython error check: the callers test the sentinel and PyErr_Occurred themselves
    uint64_t _as_u64(object value)
    int64_t _as_i64(object value)
    bint ap_int_parts(object value, uint64_t* magnitude, int* negative)
    PyObject* ap_small_ints[256]
    bint ap_u64_within(PyObject* value, uint64_t maximum, uint64_t* out)
    bint ap_i64_within(PyObject* value, int64_t minimum, int64_t maximum, int64_t* out)
    object ap_u8_value(uint8_t value)
    PyObject* PyErr_Occurred()
    void PyErr_Clear()


cdef extern from "keywords.h":
    Py_ssize_t ap_match_keywords(PyObject** args, Py_ssize_t nargs, PyObject* kwnames,
                                 PyObject** names, Py_ssize_t count, PyObject** values)
    void* ap_set_vectorcall(object function, void* call) except NULL
    object ap_vectorcall(void* call, object function, PyObject** args, size_t nargsf,
                         PyObject* kwnames)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    PyObject** PySequence_Fast_ITEMS(object sequence)


cdef object _REQUIRED  # the default of a body field that a message class must be given
cdef int _missing_fields(str class_name, tuple names, tuple values) except -1


cdef object _index_of(object value, str where)
cdef int _range_error(object value, object minimum, object maximum, str where) except -1


cdef inline object _as_index(object value, str where):
    if PyLong_Check(value):
        return value
    return _index_of(value, where)


cdef inline uint64_t _uint_arg(object value, uint64_t maximum,
                               str where) except? 0xFFFFFFFFFFFFFFFFU:
    cdef uint64_t result
    cdef int negative
    if not PyLong_Check(value):
        value = _as_index(value, where)
    if ap_int_parts(value, &result, &negative) and not negative:
        if result > maximum:
            _range_error(value, 0, maximum, where)
        return result
    result = _as_u64(value)
    if result > maximum or (result == UINT64_MAX and PyErr_Occurred() is not NULL):
        _range_error(value, 0, maximum, where)
    return result


cdef inline int64_t _int_arg(object value, int64_t minimum, int64_t maximum,
                             str where) except? -1:
    cdef int64_t result
    cdef uint64_t magnitude
    cdef int negative
    if not PyLong_Check(value):
        value = _as_index(value, where)
    if ap_int_parts(value, &magnitude, &negative):
        # the bounds as magnitudes: -minimum of a negative value, in unsigned arithmetic
        if magnitude > (<uint64_t>(-(minimum + 1)) + 1 if negative else <uint64_t>maximum):
            _range_error(value, minimum, maximum, where)
        return <int64_t>(0 - magnitude) if negative else <int64_t>magnitude
    result = _as_i64(value)
    if result < minimum or result > maximum or (result == -1 and PyErr_Occurred() is not NULL):
        _range_error(value, minimum, maximum, where)
    return result


cdef ap_u128 _u128_arg(object value, bint signed, str where) except *
cdef object _u128_value(ap_u128 value, bint signed)
cdef bytes _bytes_like(object value, str where)
cdef int _bytes_arg(object value, uint8_t* dest, Py_ssize_t size, str where) except -1
cdef int _ascii_arg(object value, uint8_t* dest, Py_ssize_t size, str where) except -1
cdef str _ascii_value(const uint8_t* data, Py_ssize_t size)
cdef bytes _utf8_tail(object value, uint64_t maximum, str where)
cdef bytes _bytes_tail(object value, uint64_t maximum, str where)
cdef bytes _levels_tail(object levels, uint64_t maximum, str where)
cdef str _utf8_value(const uint8_t* data, Py_ssize_t size)
cdef bytes _bytes_value(const uint8_t* data, Py_ssize_t size)
cdef tuple _levels_value(const uint8_t* data, Py_ssize_t count)


cdef inline bint _keywords_matched(PyObject** args, size_t nargsf, PyObject* kwnames,
                                   tuple names, tuple defaults, PyObject** values,
                                   Py_ssize_t count) noexcept:
    """Whether a vectorcall of an encode gives keywords alone, each one of the `count` `names`
    by identity: then `values` holds them (borrowed) and the `defaults` of the others. Any
    other call is left to the function's own parsing, which gives its errors."""
    if PyVectorcall_NARGS(nargsf):
        return False
    memcpy(values, PySequence_Fast_ITEMS(defaults), count * sizeof(PyObject*))
    return ap_match_keywords(args, 0, kwnames, PySequence_Fast_ITEMS(names), count,
                             values) == -1


# The builders' forms of _uint_arg and _int_arg, for a borrowed argument: a value within the
# bounds converts in C alone; any other takes the checks and errors of the object forms.

cdef inline uint64_t _uint_param(PyObject* value, uint64_t maximum,
                                 str where) except? 0xFFFFFFFFFFFFFFFFU:
    cdef uint64_t result
    if ap_u64_within(value, maximum, &result):
        return result
    return _uint_arg(<object>value, maximum, where)


cdef inline int64_t _int_param(PyObject* value, int64_t minimum, int64_t maximum,
                               str where) except? -1:
    cdef int64_t result
    if ap_i64_within(value, minimum, maximum, &result):
        return result
    return _int_arg(<object>value, minimum, maximum, where)
