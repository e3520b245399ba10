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


def _crc32_spans(data, spans, bint portable=False, bint frames=False):
    """CRCs of (start, size) spans of `data`, in order, from the prefix CRCs that the batch
    resync keeps: zlib.crc32 of each span, or with `frames` ap_crc32_frame of each (its
    checksum bytes skipped). `portable` takes the table path. For tests."""
    cdef Py_buffer view
    cdef ap_crc_ranges ranges
    cdef unsigned int crc
    cdef Py_ssize_t start, size
    crcs = []
    memset(&ranges, 0, sizeof(ranges))
    ranges.portable = portable
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        for start, size in spans:
            if start < 0 or size < (32 if frames else 0) or start + size > view.len:
                raise ValueError(f"span ({start}, {size}) outside the buffer or too short")
            if (ap_crc32_frame_span(&ranges, <const unsigned char*>view.buf, start, size, &crc)
                    if frames else ap_crc32_span(&ranges, <const unsigned char*>view.buf, start,
                                                 size, 0, &crc)):
                raise MemoryError()
            crcs.append(crc)
    finally:
        ap_crc_ranges_free(&ranges)
        PyBuffer_Release(&view)
    return crcs


def _crc32_combine_implementation():
    """How the span CRCs multiply modulo the polynomial on this CPU: "pclmulqdq" or "table"."""
    return ap_crc_combine_impl().decode()
