"""The in-process channel's per-frame work, in C over a producer's block of whole frames.

``Judge`` checks a block as a relay checks what a producer sends (whole frames, the domain's
types, checksums and sequences where its policy says so) without giving up the interpreter's
lock: a block takes microseconds, less than handing the lock to another thread and back.
``select`` and ``lost`` walk a judged block for a consumer; they still refuse a size that would
run past the block rather than trust it. Positions are byte offsets in the block.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from ..wire.errors import BadMagicError, FrameTooLargeError, TruncatedError

cdef extern from "crc32.h" nogil:
    void ap_crc32_init()
    uint32_t ap_crc32_frame(const unsigned char *frame, size_t size)

ap_crc32_init()

cdef enum:
    HEADER_SIZE = 32
    # the relay's verdicts (RelayCode values, and _route.pyx's code for an announcement)
    BAD_CHECKSUM = 4
    SEQUENCE_NOT_AFTER = 5
    ANNOUNCE = 255

cdef uint32_t MAGIC = 0xDEADBEEF


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


cdef class Judge:
    """The rules of one channel's domain and the last sequence of every source accepted."""
    cdef uint8_t codes[256]        # per message type: 0 accepted, ANNOUNCE, or a RelayCode
    cdef uint32_t max_frame_size
    cdef bint validate_checksums
    cdef bint require_sequence     # a sequence not after the source's last is refused, a jump told
    cdef uint64_t last_sequence[256]
    cdef uint8_t seen[256]

    def __cinit__(self, bytes type_codes not None, uint32_t max_frame_size,
                  bint validate_checksums, bint require_sequence):
        if len(type_codes) != 256:
            raise ValueError(f"type_codes: expected 256 bytes, got {len(type_codes)}")
        memcpy(self.codes, <const char*>type_codes, 256)
        self.max_frame_size = max_frame_size
        self.validate_checksums = validate_checksums
        self.require_sequence = require_sequence
        memset(self.last_sequence, 0, sizeof(self.last_sequence))
        memset(self.seen, 0, sizeof(self.seen))

    def allow(self, int message_type):
        """Accept this type from now on (a run-time schema announced for this domain)."""
        self.codes[<uint8_t>message_type] = 0

    def next_sequence(self, int source):
        """The sequence after the source's last accepted one; 0 if none was seen."""
        return self.last_sequence[<uint8_t>source] + 1 if self.seen[<uint8_t>source] else 0

    def count(self, const uint8_t[::1] block):
        """How many whole frames ``block`` holds; refuses, with the byte offset, bytes that are
        not whole frames or a frame over the maximum. Changes nothing."""
        cdef size_t length = block.shape[0], at = 0, size, frames = 0
        cdef const unsigned char* data = &block[0] if length else NULL
        while at < length:
            if length - at < HEADER_SIZE:
                raise TruncatedError(f"byte {at}: {length - at} bytes left, a frame header"
                                     f" takes {HEADER_SIZE}")
            if load_u32(data + at) != MAGIC:
                raise BadMagicError(f"byte {at}: magic is 0x{load_u32(data + at):08X},"
                                    " expected 0xDEADBEEF")
            size = HEADER_SIZE + <size_t>load_u32(data + at + 8)
            if size > self.max_frame_size:
                raise FrameTooLargeError(f"byte {at}: a frame of {size} bytes is over the"
                                         f" channel's maximum of {self.max_frame_size}")
            if size > length - at:
                raise TruncatedError(f"byte {at}: the frame takes {size} bytes,"
                                     f" {length - at} are left")
            at += size
            frames += 1
        return frames

    def judge(self, const uint8_t[::1] block, Py_ssize_t start):
        """Judge the frames of ``block`` (whole: ``count`` said so) from byte ``start``:
        (end, notable), stopping after a schema announcement, which the caller judges before
        the frames after it. ``notable`` lists (offset, size, code, type, source, sequence,
        first sequence of a jump or 0) of each frame refused, announced or jumped."""
        cdef size_t length = block.shape[0], at, size
        cdef const unsigned char* data = &block[0] if length else NULL
        cdef uint8_t code, message_type, source
        cdef uint64_t sequence, jump
        if start < 0 or <size_t>start > length:
            raise ValueError(f"start {start} is outside the block of {length} bytes")
        notable = []
        at = <size_t>start
        while at < length:
            size = next_frame(data, at, length)
            if size == 0:
                raise TruncatedError(f"byte {at}: the block does not hold this frame whole")
            size -= at
            message_type = data[at + 4]
            source = data[at + 6]
            sequence = load_u64(data + at + 12)
            jump = 0
            code = self.codes[message_type]
            if (code == 0 or code == ANNOUNCE) and self.validate_checksums \
                    and ap_crc32_frame(data + at, size) != load_u32(data + at + 28):
                code = BAD_CHECKSUM
            if (code == 0 or code == ANNOUNCE) and self.require_sequence and self.seen[source]:
                if sequence <= self.last_sequence[source]:
                    code = SEQUENCE_NOT_AFTER
                elif sequence != self.last_sequence[source] + 1:
                    jump = self.last_sequence[source] + 1
            if code == 0 or code == ANNOUNCE:
                self.seen[source] = 1
                self.last_sequence[source] = sequence
            if code != 0 or jump:
                notable.append((at, size, code, message_type, source, sequence, jump))
            at += size
            if code == ANNOUNCE:
                break
        return at, notable
