# TLV extensions: walking them in place and handing each one to its Python class.
# Declarations: _tlv.pxd.

cdef list _tlvs_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end):
    """The TLVs in data[start:end], which walk_tlvs has already checked."""
    cdef list found = []
    cdef uint8_t length
    while start < end:
        length = data[start + 1]
        found.append(tlv_from_wire(data[start], PyBytes_FromStringAndSize(
            <const char*>data + start + 2, length)))
        start += 2 + length
    return found


cdef object _find_tlv_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end, object tlv_type):
    cdef uint8_t wanted = <uint8_t>_uint_arg(tlv_type, 0xFF, "tlv_type")
    cdef uint8_t length
    while start < end:
        length = data[start + 1]
        if data[start] == wanted:
            return tlv_from_wire(wanted, PyBytes_FromStringAndSize(
                <const char*>data + start + 2, length))
        start += 2 + length
    return None


cdef int _checked_tlv_area(object buffer, Py_buffer* view) except -1:
    cdef Problem problem
    PyObject_GetBuffer(buffer, view, PyBUF_SIMPLE)
    problem.frame_offset = 0
    if walk_tlvs(<const uint8_t*>view.buf, view.len, 0, &problem):
        PyBuffer_Release(view)
        raise problem_error(&problem)
    return 0


def parse_tlvs(buffer):
    """Every TLV in a buffer of TLV extensions, typed where the type is known."""
    cdef Py_buffer view
    _checked_tlv_area(buffer, &view)
    try:
        return _tlvs_of(<const uint8_t*>view.buf, 0, view.len)
    finally:
        PyBuffer_Release(&view)


def find_tlv(buffer, tlv_type):
    """The first TLV of `tlv_type` in a buffer of TLV extensions, or None."""
    cdef Py_buffer view
    _checked_tlv_area(buffer, &view)
    try:
        return _find_tlv_of(<const uint8_t*>view.buf, 0, view.len, tlv_type)
    finally:
        PyBuffer_Release(&view)
