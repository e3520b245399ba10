"""The in-process channel's per-frame work, in C over a producer's block of whole frames.

A block was checked whole when it was sent (relay/_route.pyx's count_frames and Router), so
these walks only read frame sizes, types, sources and sequences; they still refuse a size that
would run past the block rather than trust it. Positions are byte offsets in the block.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from ..wire.errors import TruncatedError

cdef enum:
    HEADER_SIZE = 32


cdef inline uint32_t load_u32(const unsigned char* p) noexcept nogil:
    cdef uint32_t value
    memcpy(&value, p, 4)
    return value


cdef inline uint64_t load_u64(const unsigned char* p) noexcept nogil:
    cdef uint64_t value
    memcpy(&value, p, 8)
    return value


cdef inline bint in_mask(const uint8_t* mask, uint8_t value) noexcept nogil:
    return (mask[value >> 3] >> (value & 7)) & 1


cdef inline size_t next_frame(const unsigned char* data, size_t at, size_t length) noexcept nogil:
    """The end of the frame at ``at``, or 0 when the block does not hold it whole."""
    cdef size_t size
    if length - at < HEADER_SIZE:
        return 0
    size = HEADER_SIZE + <size_t>load_u32(data + at + 8)
    if size > length - at:
        return 0
    return at + size


cdef int _check_masks(const uint8_t[::1] type_mask, const uint8_t[::1] source_mask) except -1:
    if type_mask.shape[0] != 32 or source_mask.shape[0] != 32:
        raise ValueError("type_mask and source_mask: expected 32 bytes each")
    return 0


def select(const uint8_t[::1] block, Py_ssize_t start, Py_ssize_t max_frames,
           const uint8_t[::1] type_mask, const uint8_t[::1] source_mask):
    """The frames of ``block`` from byte ``start`` on whose type and source the masks hold,
    at most ``max_frames`` of them: (end, scanned, taken, picked). ``end`` is the byte after the
    last frame looked at, ``scanned`` how many frames that was, ``taken`` how many of them were
    wanted; ``picked`` is None when every scanned frame was wanted (the caller slices
    ``block[start:end]`` without a copy), else the wanted frames' bytes, back to back."""
    _check_masks(type_mask, source_mask)
    cdef size_t length = block.shape[0], at, end, scanned = 0, taken = 0, picked_bytes = 0
    cdef const unsigned char* data = &block[0] if length else NULL
    cdef bint bad = False
    if start < 0 or <size_t>start > length or max_frames < 0:
        raise ValueError(f"start {start} or max_frames {max_frames} is outside the block")
    at = <size_t>start
    with nogil:
        while at < length and taken < <size_t>max_frames:
            end = next_frame(data, at, length)
            if end == 0:
                bad = True
                break
            scanned += 1
            if in_mask(&type_mask[0], data[at + 4]) and in_mask(&source_mask[0], data[at + 6]):
                taken += 1
                picked_bytes += end - at
            at = end
    if bad:
        raise TruncatedError(f"byte {at}: the channel's block does not hold this frame whole")
    if taken == scanned:
        return at, scanned, taken, None
    cdef bytes picked = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>picked_bytes)
    cdef unsigned char* out = <unsigned char*>PyBytes_AS_STRING(picked)
    cdef size_t stop = at, run_start = 0, run_end = 0, written = 0
    at = <size_t>start
    with nogil:
        while at < stop:
            end = next_frame(data, at, length)
            if in_mask(&type_mask[0], data[at + 4]) and in_mask(&source_mask[0], data[at + 6]):
                if run_end != at:  # a new run of wanted frames: copy the one before
                    memcpy(out + written, data + run_start, run_end - run_start)
                    written += run_end - run_start
                    run_start = at
                run_end = end
            at = end
        memcpy(out + written, data + run_start, run_end - run_start)
    return stop, scanned, taken, picked


def lost(const uint8_t[::1] block, Py_ssize_t start, Py_ssize_t max_frames,
         const uint8_t[::1] type_mask, const uint8_t[::1] source_mask):
    """What a consumer loses when ``max_frames`` frames of ``block`` from byte ``start`` are
    dropped for it: (end, scanned, [(source, first sequence, last sequence, frames)]) over
    the dropped frames its masks hold, per source in source order."""
    _check_masks(type_mask, source_mask)
    cdef size_t length = block.shape[0], at, end, scanned = 0
    cdef const unsigned char* data = &block[0] if length else NULL
    cdef uint64_t counts[256]
    cdef uint64_t firsts[256]
    cdef uint64_t lasts[256]
    cdef uint8_t source
    cdef uint64_t sequence
    cdef bint bad = False
    cdef int s
    if start < 0 or <size_t>start > length or max_frames < 0:
        raise ValueError(f"start {start} or max_frames {max_frames} is outside the block")
    for s in range(256):
        counts[s] = 0
    at = <size_t>start
    with nogil:
        while at < length and scanned < <size_t>max_frames:
            end = next_frame(data, at, length)
            if end == 0:
                bad = True
                break
            scanned += 1
            source = data[at + 6]
            if in_mask(&type_mask[0], data[at + 4]) and in_mask(&source_mask[0], source):
                sequence = load_u64(data + at + 12)
                if counts[source] == 0:
                    firsts[source] = sequence
                lasts[source] = sequence
                counts[source] += 1
            at = end
    if bad:
        raise TruncatedError(f"byte {at}: the channel's block does not hold this frame whole")
    return at, scanned, [(s, firsts[s], lasts[s], counts[s]) for s in range(256) if counts[s]]
