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
    """
    # no Cython error check: the callers test the sentinel and PyErr_Occurred themselves
    uint64_t _as_u64(object value)
    int64_t _as_i64(object value)
    PyObject* PyErr_Occurred()
    void PyErr_Clear()


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
    if not PyLong_Check(value):
        value = _as_index(value, where)
    result = _as_u64(value)
    if result > maximum or (result == UINT64_MAX and PyErr_Occurred() is not NULL):
        _range_error(value, 0, maximum, where)
    return result


cdef inline int64_t _int_arg(object value, int64_t minimum, int64_t maximum,
                             str where) except? -1:
    cdef int64_t result
    if not PyLong_Check(value):
        value = _as_index(value, where)
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
