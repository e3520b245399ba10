# TLV extensions: walking them in place and handing each one to its Python class.
# Declarations: _tlv.pxd.

cdef inline const uint8_t* _next_tlv(FrameReader* r, uint8_t* tlv_type,
                                     uint8_t* length) except NULL:
    """The value of the TLV at the reader's position, its type and length. walk_tlvs checked
    the area once, but the buffer may have changed since: every byte is read checked."""
    cdef Py_ssize_t start = r.position
    cdef const uint8_t* head = _read(r, 2, ST_TLV_OVERRUN, "tlv", start)
    tlv_type[0] = head[0]
    length[0] = head[1]
    return _read(r, length[0], ST_TLV_OVERRUN, "tlv", start)


cdef list _tlvs_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end):
    """The TLVs in data[start:end]."""
    cdef list found = []
    cdef FrameReader r
    cdef const uint8_t* value
    cdef uint8_t tlv_type, length
    _reader_at(&r, data, start, end, "tlv")
    while r.position < r.end:
        value = _next_tlv(&r, &tlv_type, &length)
        found.append(tlv_from_wire(tlv_type, _bytes_value(value, length)))
    return found


cdef object _find_tlv_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end, object tlv_type):
    cdef uint8_t wanted = <uint8_t>_uint_arg(tlv_type, 0xFF, "tlv_type")
    cdef FrameReader r
    cdef const uint8_t* value
    cdef uint8_t found_type, length
    _reader_at(&r, data, start, end, "tlv")
    while r.position < r.end:
        value = _next_tlv(&r, &found_type, &length)
        if found_type == wanted:
            return tlv_from_wire(wanted, _bytes_value(value, length))
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
