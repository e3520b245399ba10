# CRC-32 for Python callers: the same C paths the frame checks use, and the choice of path at
# import. Declares nothing that other parts use.
from alphapulse_codec.wire._crc cimport (AP_CRC32_PATHS, ap_crc32_frames_with, ap_crc32_path_available,
                                   ap_crc32_path_name, ap_crc32_run_with, ap_crc32_use,
                                   ap_crc32_with)

import os


# A builtin function rather than a bound one: the interpreter specialises its calls to those
# and calls the C function directly, where a bound one takes the generic call, which on short
# buffers cost as much as the CRC.
@cython.binding(False)
def crc32(data, value=0):
    """CRC-32 of `data` continuing from `value`, equal to zlib.crc32(data, value)."""
    cdef Py_buffer view
    cdef uint32_t start = 0
    cdef uint32_t result
    # The default start and bytes, the common case, take no conversion and no buffer request:
    # on short input those cost a good part of what the CRC does.
    if value is not 0:
        start = <uint32_t>_uint_arg(value, 0xFFFFFFFF, "crc32 value")
    if PyBytes_CheckExact(data) and PyBytes_GET_SIZE(data) < 4096:
        return ap_crc32(start, <const unsigned char*>PyBytes_AS_STRING(data),
                        <size_t>PyBytes_GET_SIZE(data))
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
    """The name of the CRC-32 path in use: "vpclmul512", "vpclmul256", "pclmul", "armv8" or
    "table"."""
    return ap_crc32_impl().decode()


_CRC_PATH_NAMES = tuple(ap_crc32_path_name(i).decode() for i in range(AP_CRC32_PATHS))


def _crc32_paths():
    """The CRC-32 paths this CPU can run, by name."""
    return [name for i, name in enumerate(_CRC_PATH_NAMES) if ap_crc32_path_available(i)]


cdef int _crc_path(str name) except -1:
    if name not in _CRC_PATH_NAMES or not ap_crc32_path_available(_CRC_PATH_NAMES.index(name)):
        raise ValueError(f"CRC-32 path {name!r} is not one this CPU can run: {_crc32_paths()}")
    return _CRC_PATH_NAMES.index(name)


def _crc32_with(str path, data, value=0):
    """crc32() on the named path, whichever is in use: for tests."""
    cdef int index = _crc_path(path)
    cdef uint32_t start = <uint32_t>_uint_arg(value, 0xFFFFFFFF, "crc32 value")
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    return ap_crc32_with(index, start, &view[0] if view.shape[0] else NULL, view.shape[0])


def _crc32_frames_with(str path, list frames):
    """The batch checksum of whole frames (bytes, 32 bytes or more) on the named path: for
    tests."""
    cdef int index = _crc_path(path)
    cdef Py_ssize_t count = len(frames), i
    cdef list held = [bytes(frame) for frame in frames]
    cdef const unsigned char** pointers = <const unsigned char**>calloc(count + 1, sizeof(void*))
    cdef size_t* sizes = <size_t*>calloc(count + 1, sizeof(size_t))
    cdef unsigned int* crcs = <unsigned int*>calloc(count + 1, sizeof(unsigned int))
    try:
        if pointers == NULL or sizes == NULL or crcs == NULL:
            raise MemoryError()
        for i in range(count):
            if PyBytes_GET_SIZE(held[i]) < AP_HEADER_SIZE:
                raise ValueError(f"frame {i} is shorter than a header")
            pointers[i] = <const unsigned char*>PyBytes_AS_STRING(held[i])
            sizes[i] = PyBytes_GET_SIZE(held[i])
        ap_crc32_frames_with(index, pointers, sizes, crcs, count)
        return [crcs[i] for i in range(count)]
    finally:
        free(pointers)
        free(sizes)
        free(crcs)


def _crc32_run_with(str path, data, Py_ssize_t size):
    """How many of the `size`-byte frames back to back in `data` carry their checksum before
    the first that does not, by the run check of the batch decode on the named path: for
    tests."""
    cdef int index = _crc_path(path)
    cdef bytes held = bytes(data)
    if size <= 0 or len(held) % size:
        raise ValueError(f"{len(held)} bytes are not frames of {size} bytes each")
    return ap_crc32_run_with(index, <const unsigned char*>PyBytes_AS_STRING(held), size,
                             len(held) // size)


def _choose_crc_path():
    """ALPHAPULSE_CRC, when set, names the path to use instead of the fastest; a path this CPU
    cannot run fails the import rather than run slower than asked, or not at all."""
    ap_crc32_init()
    forced = os.environ.get("ALPHAPULSE_CRC", "")
    if not forced:
        return
    if forced not in _CRC_PATH_NAMES:
        raise ImportError(f"ALPHAPULSE_CRC={forced!r} names no CRC-32 path; the paths are"
                          f" {', '.join(_CRC_PATH_NAMES)}")
    if ap_crc32_use(_CRC_PATH_NAMES.index(forced)) != 0:
        raise ImportError(f"ALPHAPULSE_CRC={forced!r}: this CPU cannot run that CRC-32 path; it"
                          f" can run {', '.join(_crc32_paths())}")


_choose_crc_path()


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
            if (ap_crc32_frame_span(&ranges, <const unsigned char*>view.buf, view.len, start,
                                    size, &crc)
                    if frames else ap_crc32_span(&ranges, <const unsigned char*>view.buf,
                                                 view.len, start, size, 0, &crc)):
                raise MemoryError()
            crcs.append(crc)
    finally:
        ap_crc_ranges_free(&ranges)
        PyBuffer_Release(&view)
    return crcs


def _crc32_combine_implementation():
    """How the span CRCs multiply modulo the polynomial on this CPU: "pclmulqdq" or "table"."""
    return ap_crc_combine_impl().decode()
