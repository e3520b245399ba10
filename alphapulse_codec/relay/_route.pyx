"""The relay's per-frame work, in C over whole buffers.

``Router.scan`` splits a received chunk into frames and judges each one against the domain's
rules (magic, size, type range, checksum, sequence per source) without a Python object per
frame; ``Router.fan_out`` copies the accepted frames a consumer subscribed to into its
``OutQueue`` as runs of whole frames; ``OutQueue.send`` writes them to the consumer's socket
and counts frames as they leave; ``OutQueue.shed`` drops its oldest frames under the shed
policy. ``Sequencer.stamp`` numbers a producer's frames per source and reseals their CRCs.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

from ..wire.errors import BadMagicError, FrameTooLargeError, TruncatedError

cdef extern from "crc32.h" nogil:
    void ap_crc32_init()
    uint32_t ap_crc32_frame(const unsigned char *frame, size_t size)

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_send "send"(int fd, const void *buf, size_t length, int flags)
    enum:
        MSG_DONTWAIT
        MSG_NOSIGNAL

ap_crc32_init()

cdef enum:
    HEADER_SIZE = 32
    # verdict codes beside the RelayCode values (all below 64)
    ANNOUNCE = 255   # a schema announcement: Python reads it and decides
    NOTE = 254       # accepted, and Python wants to see it (control frames at a consumer)
    BAD_MAGIC = 1
    TOO_LARGE = 2
    BAD_CHECKSUM = 4
    SEQUENCE_NOT_AFTER = 5
    GAP_NOTICE = 107

cdef uint32_t MAGIC = 0xDEADBEEF

ANNOUNCE_CODE = ANNOUNCE
NOTE_CODE = NOTE
HEADER_BYTES = HEADER_SIZE


cdef inline uint32_t load_u32(const unsigned char* p) noexcept nogil:
    cdef uint32_t value
    memcpy(&value, p, 4)
    return value


cdef inline uint64_t load_u64(const unsigned char* p) noexcept nogil:
    cdef uint64_t value
    memcpy(&value, p, 8)
    return value


cdef inline size_t frame_size(const unsigned char* p) noexcept nogil:
    return HEADER_SIZE + <size_t>load_u32(p + 8)


cdef inline bint in_mask(const uint8_t* mask, uint8_t value) noexcept nogil:
    return (mask[value >> 3] >> (value & 7)) & 1


cdef class _Buffer:
    """A buffer held for the time of one call."""
    cdef Py_buffer view

    def __cinit__(self, object source, bint writable=False):
        PyObject_GetBuffer(source, &self.view, PyBUF_WRITABLE if writable else PyBUF_SIMPLE)

    def __dealloc__(self):
        PyBuffer_Release(&self.view)


cdef class Router:
    """The rules of one relay and the sequence state of every source it has seen."""

    def __cinit__(self, bytes type_codes not None, uint32_t max_frame_size,
                  bint validate_checksums, bint refuse_back, bint report_jumps):
        if len(type_codes) != 256:
            raise ValueError(f"type_codes: expected 256 bytes, got {len(type_codes)}")
        if max_frame_size < HEADER_SIZE:
            raise ValueError(f"max_frame_size: {max_frame_size} is below the header's 32 bytes")
        memcpy(self.type_codes, <const char*>type_codes, 256)
        self.max_frame_size = max_frame_size
        self.validate_checksums = validate_checksums
        self.refuse_back = refuse_back
        self.report_jumps = report_jumps
        memset(self.last_sequence, 0, sizeof(self.last_sequence))
        memset(self.seen, 0, sizeof(self.seen))

    def __dealloc__(self):
        free(self.verdicts)
        free(self.notable)

    cdef int _reserve(self, size_t wanted) except -1:
        cdef Verdict* verdicts
        cdef size_t* notable
        if wanted <= self.capacity:
            return 0
        verdicts = <Verdict*>realloc(self.verdicts, wanted * sizeof(Verdict))
        if verdicts == NULL:
            raise MemoryError()
        self.verdicts = verdicts
        notable = <size_t*>realloc(self.notable, wanted * sizeof(size_t))
        if notable == NULL:
            raise MemoryError()
        self.notable = notable
        self.capacity = wanted
        return 0

    def allow(self, int message_type):
        """Accept this type from now on (a run-time schema announced for this domain)."""
        self.type_codes[<uint8_t>message_type] = 0

    def type_code(self, int message_type):
        return self.type_codes[<uint8_t>message_type]

    def next_sequence(self, int source):
        """The sequence that follows the source's last accepted one; 0 if none was seen."""
        return self.last_sequence[<uint8_t>source] + 1 if self.seen[<uint8_t>source] else 0

    def scan(self, object buffer, Py_ssize_t length, Py_ssize_t max_frames=0):
        """Judge the whole frames in ``buffer[:length]`` (at most ``max_frames`` when it is
        not 0); returns how many verdicts were made.

        Stops at a partial frame (``consumed`` is where it starts), at bytes that cannot be
        a frame (``fatal``; the last verdict says why, at its offset), or after a schema
        announcement (``announced``), which Python judges before the frames that follow.
        """
        cdef Py_buffer view
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
        try:
            if length < 0 or length > view.len:
                raise ValueError(f"length: {length} is outside the buffer of {view.len} bytes")
            return self._scan(<const unsigned char*>view.buf, <size_t>length, max_frames)
        finally:
            PyBuffer_Release(&view)

    def take(self, object buffer, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t max_frames=0):
        """``scan`` of ``buffer[start:stop]``, and a copy of the whole frames it judged:
        one call for a consumer that takes frames as they come (b"" when none is whole).
        Offsets of ``notable_frames`` count from ``start``."""
        cdef Py_buffer view
        cdef const unsigned char* data
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)  # held: no other thread resizes it
        try:
            if start < 0 or stop < start or stop > view.len:
                raise ValueError(f"bytes {start} to {stop} are outside the buffer of {view.len}")
            data = <const unsigned char*>view.buf + start
            if self._scan(data, <size_t>(stop - start), max_frames) == 0 or self.consumed == 0:
                return b""
            return PyBytes_FromStringAndSize(<const char*>data, self.consumed)
        finally:
            PyBuffer_Release(&view)

    cdef size_t _scan(self, const unsigned char* data, size_t end, Py_ssize_t max_frames) except? 0:
        self._reserve(end // HEADER_SIZE + 1)
        cdef size_t at = 0, size, count = 0, notable = 0
        cdef Verdict* v
        cdef uint8_t code, source
        cdef uint64_t sequence, accepted_bytes = 0, accepted_frames = 0
        cdef bint fatal = False, announced = False
        cdef size_t limit = <size_t>max_frames if max_frames > 0 else <size_t>-1
        with nogil:
            while end - at >= HEADER_SIZE and count < limit:
                v = &self.verdicts[count]
                v.offset = at
                v.message_type = data[at + 4]
                v.source = source = data[at + 6]
                v.sequence = sequence = load_u64(data + at + 12)
                v.jumped = 0
                v.gap_first = 0
                if load_u32(data + at) != MAGIC:
                    v.code = BAD_MAGIC
                    v.size = 0
                    fatal = True
                    self.notable[notable] = count
                    notable += 1
                    count += 1
                    break
                size = frame_size(data + at)
                if size > self.max_frame_size:
                    v.code = TOO_LARGE
                    v.size = 0
                    fatal = True
                    self.notable[notable] = count
                    notable += 1
                    count += 1
                    break
                if end - at < size:
                    break
                v.size = <uint32_t>size
                code = self.type_codes[v.message_type]
                if (code == 0 or code >= NOTE) and self.validate_checksums \
                        and ap_crc32_frame(data + at, size) != load_u32(data + at + 28):
                    code = BAD_CHECKSUM
                if code == 0 or code >= NOTE:
                    if self.seen[source]:
                        if sequence <= self.last_sequence[source]:
                            if self.refuse_back:
                                code = SEQUENCE_NOT_AFTER
                        elif sequence != self.last_sequence[source] + 1 and self.report_jumps:
                            v.jumped = 1
                            v.gap_first = self.last_sequence[source] + 1
                    if code == 0 or code >= NOTE:
                        self.seen[source] = 1
                        self.last_sequence[source] = sequence
                        accepted_frames += 1
                        accepted_bytes += size
                v.code = code
                if code != 0 or v.jumped:
                    self.notable[notable] = count
                    notable += 1
                count += 1
                at += size
                if code == ANNOUNCE:  # the frames after it may be of the type it opens
                    announced = True
                    break
        self.count = count
        self.notable_count = notable
        self.consumed = <Py_ssize_t>(self.verdicts[count - 1].offset if fatal else at)
        self.fatal = fatal
        self.announced = announced
        self.accepted_frames += accepted_frames
        self.accepted_bytes += accepted_bytes
        return count

    def notable_frames(self):
        """(index, offset, size, type, source, code, sequence, gap_first) of each frame of the
        last scan that was refused, jumped, or is for Python to see."""
        cdef size_t i
        cdef Verdict* v
        out = []
        for i in range(self.notable_count):
            v = &self.verdicts[self.notable[i]]
            out.append((self.notable[i], v.offset, v.size, v.message_type, v.source, v.code,
                        v.sequence, v.gap_first if v.jumped else 0))
        return out

    def set_code(self, Py_ssize_t index, int code):
        """Settle a frame of the last scan that Python judged (an announcement)."""
        if index < 0 or <size_t>index >= self.count:
            raise IndexError(f"index: {index} is outside the {self.count} frames of the last scan")
        self.verdicts[index].code = <uint8_t>code

    def fan_out(self, object buffer, OutQueue queue not None, Py_ssize_t first, Py_ssize_t stop):
        """Append to ``queue`` the accepted frames of the last scan, ``first`` to ``stop``,
        whose type and source it subscribed to. Returns how many."""
        if first < 0 or stop > <Py_ssize_t>self.count or first > stop:
            raise IndexError(f"frames {first} to {stop} are outside the last scan's {self.count}")
        cdef _Buffer held = _Buffer(buffer)
        cdef const unsigned char* data = <const unsigned char*>held.view.buf
        cdef size_t i, total = 0, frames = 0, run_start = 0, run_end = 0, run_frames = 0
        cdef Verdict* v
        cdef bint wanted, same = True
        with nogil:
            for i in range(<size_t>first, <size_t>stop):
                v = &self.verdicts[i]
                if (v.code == 0 or v.code == NOTE) and in_mask(queue.type_mask, v.message_type) \
                        and in_mask(queue.source_mask, v.source):
                    # the frames are copied whole by their sizes: they must still be there
                    if v.offset + v.size > <size_t>held.view.len or load_u32(data + v.offset) != MAGIC \
                            or frame_size(data + v.offset) != v.size:
                        same = False
                        break
                    total += v.size
                    frames += 1
        if not same:
            raise ValueError("the buffer is not the one the last scan judged")
        if frames == 0:
            return 0
        queue._make_room(total)
        with nogil:
            for i in range(<size_t>first, <size_t>stop):
                v = &self.verdicts[i]
                wanted = (v.code == 0 or v.code == NOTE) and in_mask(queue.type_mask, v.message_type) \
                    and in_mask(queue.source_mask, v.source)
                if wanted and run_frames and v.offset == run_end:
                    run_end += v.size
                    run_frames += 1
                    continue
                if run_frames:
                    queue._append(data + run_start, run_end - run_start, run_frames)
                    run_frames = 0
                if wanted:
                    run_start = v.offset
                    run_end = v.offset + v.size
                    run_frames = 1
            if run_frames:
                queue._append(data + run_start, run_end - run_start, run_frames)
        return frames


def move_to_front(object buffer, Py_ssize_t start, Py_ssize_t end):
    """Move ``buffer[start:end]`` (a partial frame) to the buffer's start."""
    cdef _Buffer held = _Buffer(buffer, True)
    if start < 0 or end < start or end > held.view.len:
        raise ValueError(f"bytes {start} to {end} are outside the buffer of {held.view.len}")
    memmove(held.view.buf, <char*>held.view.buf + start, end - start)


def pending_frame_size(object buffer, Py_ssize_t length):
    """The size of the frame that starts ``buffer``, or 0 while its header is incomplete."""
    cdef _Buffer held = _Buffer(buffer)
    if length < HEADER_SIZE or length > held.view.len:
        return 0
    return frame_size(<const unsigned char*>held.view.buf)


cdef class OutQueue:
    """The frames waiting for one consumer (or answers waiting for a producer), back to back,
    with the consumer's subscription as a type mask and a source mask (256 bits each)."""

    def __cinit__(self, bytes type_mask not None, bytes source_mask not None):
        self.set_masks(type_mask, source_mask)

    def __dealloc__(self):
        free(self.data)

    def set_masks(self, bytes type_mask not None, bytes source_mask not None):
        if len(type_mask) != 32 or len(source_mask) != 32:
            raise ValueError("type_mask and source_mask: expected 32 bytes each")
        memcpy(self.type_mask, <const char*>type_mask, 32)
        memcpy(self.source_mask, <const char*>source_mask, 32)

    def wants(self, int message_type, int source):
        return in_mask(self.type_mask, <uint8_t>message_type) and in_mask(self.source_mask, <uint8_t>source)

    def wants_source(self, int source):
        return in_mask(self.source_mask, <uint8_t>source)

    @property
    def pending_bytes(self):
        return self.tail - self.head

    cdef int _make_room(self, size_t length) except -1:
        cdef size_t shift, wanted, capacity
        cdef unsigned char* data
        if self.frames == 0:
            self.head = self.tail = self.frame_start = self.boundary = 0
        if self.tail + length <= self.capacity:
            return 0
        shift = self.frame_start
        if shift and shift >= self.tail - shift:  # half or more of the buffer is sent: move
            memmove(self.data, self.data + shift, self.tail - shift)
            self.head -= shift
            self.tail -= shift
            self.boundary -= shift
            self.frame_start = 0
            if self.tail + length <= self.capacity:
                return 0
        wanted = self.tail + length
        capacity = self.capacity if self.capacity else 65536
        while capacity < wanted:
            capacity *= 2
        data = <unsigned char*>realloc(self.data, capacity)
        if data == NULL:
            raise MemoryError()
        self.data = data
        self.capacity = capacity
        return 0

    cdef void _append(self, const unsigned char* source, size_t length, uint64_t frames) noexcept nogil:
        # room was made by the caller
        memcpy(self.data + self.tail, source, length)
        if self.frames == 0:
            self.frame_start = self.head = self.tail
            self.boundary = self.tail + frame_size(self.data + self.tail)
        self.tail += length
        self.frames += frames

    def append_frames(self, object frames):
        """Queue whole frames built by the relay (answers, notices, statistics)."""
        cdef _Buffer held = _Buffer(frames)
        cdef size_t count = _count_whole_frames(<const unsigned char*>held.view.buf, held.view.len)
        self._make_room(held.view.len)
        self._append(<const unsigned char*>held.view.buf, held.view.len, count)

    def insert_front(self, object frames):
        """Queue whole frames ahead of every frame not yet started (a gap notice goes where
        the frames it reports were)."""
        cdef _Buffer held = _Buffer(frames)
        cdef size_t length = held.view.len
        cdef size_t count = _count_whole_frames(<const unsigned char*>held.view.buf, length)
        cdef size_t at
        cdef bint partial
        if self.frames == 0:
            self.append_frames(frames)
            return
        partial = self.head > self.frame_start
        if self.frame_start >= length:  # room before: slide the partly sent frame back
            if partial:
                memmove(self.data + self.frame_start - length, self.data + self.frame_start,
                        self.boundary - self.frame_start)
                self.frame_start -= length
                self.head -= length
                self.boundary -= length
                memcpy(self.data + self.boundary, held.view.buf, length)
            else:
                self.frame_start -= length
                self.head = self.frame_start
                memcpy(self.data + self.frame_start, held.view.buf, length)
                self.boundary = self.frame_start + frame_size(self.data + self.frame_start)
        else:
            self._make_room(length)
            at = self.boundary if partial else self.head
            memmove(self.data + at + length, self.data + at, self.tail - at)
            memcpy(self.data + at, held.view.buf, length)
            self.tail += length
            if not partial:
                self.boundary = self.head + frame_size(self.data + self.head)
        self.frames += count

    cdef void _advance(self, size_t sent) noexcept nogil:
        self.head += sent
        self.sent_bytes += sent
        while self.frames and self.head >= self.boundary:
            self.frames -= 1
            self.sent_frames += 1
            self.frame_start = self.boundary
            if self.frame_start < self.tail:
                self.boundary = self.frame_start + frame_size(self.data + self.frame_start)
        if self.frames == 0:
            self.head = self.tail = self.frame_start = self.boundary = 0

    def send(self, int fd):
        """Write queued bytes to ``fd`` until it would block; returns the bytes written, or
        minus the errno of a failed write."""
        cdef ssize_t n
        cdef size_t total = 0
        cdef int error = 0
        with nogil:
            while self.head < self.tail:
                n = c_send(fd, self.data + self.head, self.tail - self.head, MSG_DONTWAIT | MSG_NOSIGNAL)
                if n < 0:
                    if errno == EINTR:
                        continue
                    if errno != EAGAIN:  # EWOULDBLOCK is EAGAIN on Linux and the BSDs
                        error = errno
                    break
                total += <size_t>n
                self._advance(<size_t>n)
        if error and total == 0:
            return -error
        return total

    def take(self, Py_ssize_t max_bytes):
        """The next queued bytes, at most ``max_bytes``, counted as sent: for a connection
        whose bytes go through a TLS layer instead of straight to its descriptor."""
        cdef size_t length = self.tail - self.head
        if max_bytes < 0:
            raise ValueError("max_bytes: expected a count of bytes, not below 0")
        if length > <size_t>max_bytes:
            length = <size_t>max_bytes
        taken = (<char*>self.data)[self.head:self.head + length] if length else b""
        self._advance(length)
        return taken

    def shed(self, uint64_t keep_frames, size_t keep_bytes):
        """Drop the oldest frames not yet started until at most ``keep_frames`` frames and
        ``keep_bytes`` bytes are queued. Returns [(source, first sequence, last sequence,
        frames)] of the data frames dropped, per source, and the GapNotices among the dropped
        frames, whole, back to back: they are to be queued again (a gap stays reported)."""
        cdef uint64_t counts[256]
        cdef uint64_t firsts[256]
        cdef uint64_t lasts[256]
        cdef bint partial = self.head > self.frame_start
        cdef size_t start = self.boundary if partial else self.head
        cdef size_t at = start, size, moved, scan
        cdef uint64_t frames = self.frames, dropped = 0
        cdef uint8_t source
        memset(counts, 0, sizeof(counts))
        memset(firsts, 0, sizeof(firsts))
        memset(lasts, 0, sizeof(lasts))
        cdef size_t notices = 0
        with nogil:
            while at < self.tail and (frames > keep_frames or self.tail - at > keep_bytes):
                size = frame_size(self.data + at)
                frames -= 1
                if self.data[at + 4] == GAP_NOTICE:
                    notices += 1
                else:
                    source = self.data[at + 6]
                    if counts[source] == 0:
                        firsts[source] = load_u64(self.data + at + 12)
                    lasts[source] = load_u64(self.data + at + 12)
                    counts[source] += 1
                    dropped += 1
                at += size
        if at == start:
            return [], b""
        kept = []
        if notices:
            scan = start
            while scan < at:
                size = frame_size(self.data + scan)
                if self.data[scan + 4] == GAP_NOTICE:
                    kept.append(self.data[scan:scan + size])
                scan += size
        if partial:
            moved = start - self.frame_start
            memmove(self.data + at - moved, self.data + self.frame_start, moved)
            self.head = at - moved + (self.head - self.frame_start)
            self.frame_start = at - moved
            self.boundary = at
        else:
            self.head = self.frame_start = at
            if at < self.tail:
                self.boundary = at + frame_size(self.data + at)
            else:
                self.boundary = at
        self.frames = frames
        self.dropped_frames += dropped
        if self.frames == 0:
            self.head = self.tail = self.frame_start = self.boundary = 0
        return [(s, firsts[s], lasts[s], counts[s]) for s in range(256) if counts[s]], b"".join(kept)


cdef size_t _count_whole_frames(const unsigned char* data, size_t length) except? 0:
    cdef size_t at = 0, count = 0, size
    while at < length:
        if length - at < HEADER_SIZE:
            raise TruncatedError(f"byte {at}: {length - at} bytes left, a header takes {HEADER_SIZE}")
        if load_u32(data + at) != MAGIC:
            raise BadMagicError(f"byte {at}: magic is 0x{load_u32(data + at):08X}, expected 0xDEADBEEF")
        size = frame_size(data + at)
        if size > length - at:
            raise TruncatedError(f"byte {at}: the frame takes {size} bytes, {length - at} are left")
        at += size
        count += 1
    return count


def count_frames(object frames, size_t max_frame_size):
    """How many whole frames ``frames`` holds; refuses bytes that are not whole frames, or a
    frame over ``max_frame_size``."""
    cdef _Buffer held = _Buffer(frames)
    cdef const unsigned char* data = <const unsigned char*>held.view.buf
    cdef size_t count = _count_whole_frames(data, held.view.len)
    _check_sizes(data, held.view.len, max_frame_size)
    return count


cdef int _check_sizes(const unsigned char* data, size_t length, size_t max_frame_size) except -1:
    cdef size_t at = 0, size
    while at < length:
        size = frame_size(data + at)
        if size > max_frame_size:
            raise FrameTooLargeError(f"byte {at}: a frame of {size} bytes is over the"
                                     f" relay's maximum of {max_frame_size}")
        at += size
    return 0


cdef class Sequencer:
    """The next sequence of each source a producer writes as."""
    cdef uint64_t next_by_source[256]

    def __cinit__(self):
        cdef int i
        for i in range(256):
            self.next_by_source[i] = 1

    def next(self, int source):
        return self.next_by_source[<uint8_t>source]

    def resume(self, int source, uint64_t sequence):
        """Continue ``source`` from ``sequence`` (the relay's welcome says where)."""
        if sequence == 0:
            raise ValueError("sequence: 0 is not a sequence to continue from")
        self.next_by_source[<uint8_t>source] = sequence

    def stamp(self, object frames, size_t max_frame_size):
        """Number the whole frames of the writable buffer ``frames`` in place, per source,
        and reseal their checksums. Returns how many; refuses (changing nothing) a buffer
        that is not whole frames."""
        cdef _Buffer held = _Buffer(frames, True)
        cdef unsigned char* data = <unsigned char*>held.view.buf
        cdef size_t length = held.view.len, at = 0, size, count
        cdef uint32_t crc
        cdef uint64_t sequence
        count = _count_whole_frames(data, length)
        _check_sizes(data, length, max_frame_size)
        with nogil:
            while at < length:
                size = frame_size(data + at)
                sequence = self.next_by_source[data[at + 6]]
                self.next_by_source[data[at + 6]] = sequence + 1
                memcpy(data + at + 12, &sequence, 8)
                crc = ap_crc32_frame(data + at, size)
                memcpy(data + at + 28, &crc, 4)
                at += size
        return count
