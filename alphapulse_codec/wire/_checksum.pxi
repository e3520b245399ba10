# CRC-32 for Python callers: the same C paths the frame checks use. Declares nothing that
# other parts use.

def crc32(data, value=0):
    """CRC-32 of `data` continuing from `value`, equal to zlib.crc32(data, value)."""
    cdef Py_buffer view
    cdef uint32_t start = <uint32_t>_uint_arg(value, 0xFFFFFFFF, "crc32 value")
    cdef uint32_t result
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if view.len >= 4096:
            with nogil:
                result = ap_crc32(start, <const unsigned char*>view.buf, view.len)
        else:
            result = ap_crc32(start, <const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return result


def crc32_portable(data, value=0):
    """The table-driven CRC-32, for checking the accelerated path."""
    cdef Py_buffer view
    cdef uint32_t start = <uint32_t>_uint_arg(value, 0xFFFFFFFF, "crc32 value")
    cdef uint32_t result
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        result = ap_crc32_portable(start, <const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return result


def crc32_implementation():
    """The name of the CRC-32 path this CPU uses."""
    return ap_crc32_impl().decode()
