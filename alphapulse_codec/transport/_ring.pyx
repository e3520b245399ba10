"""The compiled side of the shared-memory ring: thin wrappers over _c/ring.c, every wait and
copy nogil. The Python API is in shm.py."""
import os

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_Resize
from cpython.bytes cimport PyBytes_CheckExact, PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from ..wire._codec import Message, decode
from ..wire.enums import GapReason
from ..wire.errors import (BadMagicError, FrameTooLargeError, LengthMismatchError, RelayClosedError,
                           RelayTimeoutError, TruncatedError)
from .errors import BackpressureTimeout, RingCorruptError, RingMismatchError, RingSlotsExhaustedError

# a wait without a timeout is cut in slices, so that Ctrl-C is seen between them
cdef int64_t SLICE_NS = 50000000
# Sends of up to this many bytes, and reads of what is already in the ring, run holding the
# interpreter's lock (they take microseconds at most, less than letting go of the lock and taking
# it back); a call lets go of it to wait, and for larger copies.
cdef size_t HOLD_LOCK_BYTES = 65536

GAP_REASONS = {AP_GAP_LAPPED: GapReason.Lapped, AP_GAP_ABANDONED: GapReason.Abandoned,
               AP_GAP_STALLED: GapReason.Stalled, AP_GAP_SEQUENCE: GapReason.SequenceJump}
HEADER_SIZE = AP_RING_HEADER_SIZE
HEADER_FIELDS = {"magic", "version", "header_size", "capacity", "policy", "max_record", "slots",
                 "tail_intent", "tail", "latest"}


cdef object ring_error(ap_ring *ring, int rc, object path):
    message = f"{os.fsdecode(path)}: {ring.error.decode('utf-8', 'replace')}"
    if rc == AP_ERR_SYSTEM:
        return OSError(message)
    if rc == AP_ERR_CORRUPT:
        text = ring.error.decode("utf-8", "replace")
        named = text.partition(":")[0]
        field = named if named in HEADER_FIELDS else "record" if text.startswith("record") else None
        return RingCorruptError(message, offset=ring.error_offset, field=field)
    if rc == AP_ERR_MISMATCH:
        return RingMismatchError(message)
    if rc == AP_ERR_FULL:
        return RingSlotsExhaustedError(message)
    if rc == AP_ERR_TIMEOUT:
        return BackpressureTimeout(message)
    return RuntimeError(message)


cdef size_t frames_length(const uint8_t *frames, size_t count) noexcept:
    """The bytes of the first `count` frames of checked, sealed frames back to back."""
    cdef size_t offset = 0, index
    cdef uint32_t payload
    for index in range(count):
        memcpy(&payload, frames + offset + 8, 4)
        offset += 32 + payload
    return offset


cdef int64_t to_ns(timeout):
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError(f"timeout: {timeout}, expected None or a number of seconds >= 0")
    return <int64_t>(timeout * 1e9)


cdef class RingProducer:
    """One producer slot of a ring file (created with `capacity` bytes and `policy` if absent).
    A close while another thread sends (without the interpreter's lock, in the mapping) is
    carried out by that send when it returns."""
    cdef ap_ring ring
    cdef ap_producer producer
    cdef bint attached
    cdef bint closing  # closed while a send of another thread was under way
    cdef int sending   # the sends under way
    cdef readonly object path

    def __cinit__(self, path, uint64_t capacity, int policy, int wait):
        self.path = os.fspath(path)
        cdef bytes encoded = os.fsencode(path)
        cdef int rc = ap_ring_open(&self.ring, encoded, capacity, policy)
        if rc == AP_OK:
            rc = ap_producer_attach(&self.producer, &self.ring, wait)
        if rc != AP_OK:
            error = ring_error(&self.ring, rc, encoded)
            ap_ring_close(&self.ring)
            raise error
        self.attached = True

    @property
    def capacity(self):
        return self.ring.capacity

    @property
    def backpressure(self):
        return self.ring.policy == 1

    @property
    def closed(self):
        return not self.attached or self.closing

    def send(self, frames, timeout=None, bint single=False):
        """Writes every frame of `frames` (sealed frames back to back in any contiguous buffer,
        or one message when `single`; exactly one frame when `single`); the number written."""
        if not self.attached or self.closing:
            raise RelayClosedError(f"{self.path}: {'send' if single else 'send_batch'} on a closed producer")
        cdef int64_t timeout_ns = to_ns(timeout)
        cdef Py_buffer view
        if single and not PyBytes_CheckExact(frames) and isinstance(frames, Message):
            frames = frames.to_bytes()
        PyObject_GetBuffer(frames, &view, PyBUF_SIMPLE)
        self.sending += 1
        try:
            return self._send(<const uint8_t *>view.buf, <size_t>view.len, timeout_ns, single)
        finally:
            PyBuffer_Release(&view)
            self.sending -= 1
            if self.closing and self.sending == 0:
                self._detach()

    cdef Py_ssize_t _send(self, const uint8_t *frames, size_t length, int64_t timeout_ns,
                          bint single) except -1:
        cdef size_t sent = 0, more = 0, bad = 0, offset = 0
        cdef int rc
        if length == 0:
            if single:
                raise TruncatedError("an empty buffer, where one frame was expected", offset=0)
            return 0
        if length <= HOLD_LOCK_BYTES:
            # no waiting: a lossy ring always has room, a backpressure one may not
            rc = ap_producer_send(&self.producer, frames, length, single, 0, &sent, &bad)
            if rc == AP_ERR_TIMEOUT and timeout_ns != 0:
                offset = frames_length(frames, sent)
                with nogil:
                    rc = ap_producer_send(&self.producer, frames + offset, length - offset, single,
                                          timeout_ns, &more, &bad)
                sent += more
        else:
            with nogil:
                rc = ap_producer_send(&self.producer, frames, length, single, timeout_ns, &sent, &bad)
        if rc == AP_OK:
            return sent
        message = self.ring.error.decode("utf-8", "replace")
        if rc == AP_ERR_FRAME:
            kind = TruncatedError if "left" in message or "past" in message else BadMagicError
            raise kind(f"frame at offset {bad}: {message}", offset=self.ring.error_offset,
                       frame_offset=bad, field="magic" if kind is BadMagicError else "payload_size")
        if rc == AP_ERR_NOT_ONE:
            raise LengthMismatchError(f"{message}: send takes one frame, send_batch several",
                                      offset=8, frame_offset=0, field="payload_size")
        if rc == AP_ERR_TOO_LARGE:
            raise FrameTooLargeError(f"frame at offset {bad}: {message}", offset=self.ring.error_offset,
                                     frame_offset=bad, field="payload_size")
        if rc == AP_ERR_TIMEOUT:
            raise BackpressureTimeout(f"{self.path}: {message} ({sent} frames of the batch written)")
        raise ring_error(&self.ring, rc, os.fsencode(self.path))

    def _claim_without_commit(self, size_t length):
        """Test hook: claims room for a frame of `length` bytes and never commits it, as a
        producer killed mid-write leaves it."""
        cdef int rc
        with nogil:
            rc = ap_producer_claim_without_commit(&self.producer, length)
        if rc != AP_OK:
            raise ring_error(&self.ring, rc, os.fsencode(self.path))

    cdef void _detach(self):
        if self.attached:
            ap_producer_detach(&self.producer)
            ap_ring_close(&self.ring)
            self.attached = False

    def close(self):
        """Closed at once; the mapping is let go now, or by the last send under way."""
        if self.sending:
            self.closing = True
        else:
            self._detach()

    def __dealloc__(self):
        self._detach()


cdef class RingConsumer:
    """A reader of a ring file with its own cursor, filtering by the 256-bit type and source
    masks (bit n set: message type or source n wanted)."""
    cdef ap_ring ring
    cdef ap_consumer *consumer
    cdef uint8_t *scratch
    cdef size_t scratch_size
    cdef readonly object path
    # what the consumer lost and read, kept when it is closed: still told then, as on every
    # transport
    cdef uint64_t closed_frames_lost, closed_bytes_lost, closed_frames_read
    cdef list closed_gaps
    # closed while another thread read or waited (without the interpreter's lock, in the
    # mapping): that read ends at its next slice and lets the mapping go
    cdef bint closing
    cdef int reading

    def __cinit__(self, path, uint64_t capacity, int policy, int wait, double stall_timeout,
                  bytes types_mask, bytes sources_mask):
        self.path = os.fspath(path)
        if len(types_mask) != 32 or len(sources_mask) != 32:
            raise ValueError("types_mask and sources_mask: expected 32 bytes each")
        cdef bytes encoded = os.fsencode(path)
        cdef int rc = ap_ring_open(&self.ring, encoded, capacity, policy)
        if rc != AP_OK:
            error = ring_error(&self.ring, rc, encoded)
            ap_ring_close(&self.ring)
            raise error
        self.consumer = <ap_consumer *>malloc(sizeof(ap_consumer))
        self.scratch_size = self.ring.max_record
        self.scratch = <uint8_t *>malloc(self.scratch_size)
        if self.consumer is NULL or self.scratch is NULL:
            ap_ring_close(&self.ring)
            raise MemoryError()
        rc = ap_consumer_attach(self.consumer, &self.ring, wait, <int64_t>(stall_timeout * 1e9))
        if rc != AP_OK:
            error = ring_error(&self.ring, rc, encoded)
            self._release()
            raise error
        memcpy(self.consumer.types, <const char *>types_mask, 32)
        memcpy(self.consumer.sources, <const char *>sources_mask, 32)

    cdef void _release(self):
        if self.consumer is not NULL:
            self.closed_frames_lost = self.consumer.frames_lost
            self.closed_bytes_lost = self.consumer.bytes_lost
            self.closed_frames_read = self.consumer.frames_read
            ap_consumer_detach(self.consumer)
            free(self.consumer)
            self.consumer = NULL
            free(self.scratch)
            self.scratch = NULL
            ap_ring_close(&self.ring)

    @property
    def closed(self):
        return self.consumer is NULL or self.closing

    @property
    def capacity(self):
        return self.ring.capacity

    @property
    def backpressure(self):
        return self.ring.policy == 1

    cdef int _enter(self, str doing) except -1:
        if self.consumer is NULL or self.closing:
            raise RelayClosedError(f"{self.path}: {doing} on a closed consumer")
        self.reading += 1
        return 0

    cdef void _leave(self):
        self.reading -= 1
        if self.closing and self.reading == 0:
            self._close_now()

    @property
    def frames_lost(self):
        return self.closed_frames_lost if self.consumer is NULL else self.consumer.frames_lost

    @property
    def bytes_lost(self):
        return self.closed_bytes_lost if self.consumer is NULL else self.consumer.bytes_lost

    @property
    def frames_read(self):
        return self.closed_frames_read if self.consumer is NULL else self.consumer.frames_read

    cdef int _read(self, uint8_t *out, size_t capacity, size_t max_frames, int64_t left,
                   size_t *length, size_t *frames) except -1:
        """ap_consumer_read: what the ring holds now, holding the interpreter's lock when the
        copy is small (one frame, or a small buffer), then, if nothing and `left` ns allow
        (< 0: forever), a wait without it."""
        cdef int64_t slice_ns
        cdef int rc
        if max_frames == 1 or capacity <= HOLD_LOCK_BYTES:
            rc = ap_consumer_read(self.consumer, out, capacity, max_frames, 0, length, frames)
        else:
            with nogil:
                rc = ap_consumer_read(self.consumer, out, capacity, max_frames, 0, length, frames)
        while rc == AP_EMPTY and left != 0:
            slice_ns = SLICE_NS if left < 0 or left > SLICE_NS else left
            with nogil:
                rc = ap_consumer_read(self.consumer, out, capacity, max_frames, slice_ns, length, frames)
            if left > 0:
                left -= slice_ns
            if rc == AP_EMPTY:
                PyErr_CheckSignals()
                if self.closing:
                    raise RelayClosedError(f"{self.path}: closed while a receive waited")
        if rc < 0:
            raise ring_error(&self.ring, rc, os.fsencode(self.path))
        return rc

    def read_frame(self, timeout=None):
        """The next frame of the subscription as bytes, or None when none came in time."""
        cdef size_t length = 0, frames = 0
        cdef int64_t timeout_ns = to_ns(timeout)
        self._enter("recv")
        try:
            self._read(self.scratch, self.scratch_size, 1, timeout_ns, &length, &frames)
            if frames == 0:
                return None
            return PyBytes_FromStringAndSize(<const char *>self.scratch, length)
        finally:
            self._leave()

    def recv(self, timeout=None, bint verify=True):
        """The next message of the subscription, decoded from a copy (`verify`: its checksum
        checked); RelayTimeoutError when none came within `timeout` seconds."""
        frame = self.read_frame(timeout)
        if frame is None:
            raise RelayTimeoutError(f"{self.path}: no frame within {timeout} s")
        return decode(frame, verify)

    def read_frames(self, size_t max_frames, timeout=None):
        """Up to `max_frames` frames, back to back, in a bytearray (empty when none came)."""
        if max_frames == 0:
            raise ValueError("max_frames: 0, expected at least 1")
        cdef int64_t timeout_ns = to_ns(timeout)
        self._enter("recv_bytes")
        try:
            return self._read_frames(max_frames, timeout_ns)
        finally:
            self._leave()

    cdef object _read_frames(self, size_t max_frames, int64_t timeout_ns):
        # at most room for that many frames of up to 128 bytes (64 MiB at most), and a first
        # frame larger than that
        cdef size_t most = max_frames * 128 if max_frames < (1 << 19) else (1 << 26)
        cdef size_t length = 0, frames = 0, size
        cdef int rc
        if max_frames == 1:  # one read into the scratch buffer, which holds any frame
            self._read(self.scratch, self.scratch_size, 1, timeout_ns, &length, &frames)
            return PyByteArray_FromStringAndSize(<const char *>self.scratch,
                                                 <Py_ssize_t>length if frames else 0)
        while True:
            # waits for the subscription's next frame copying nothing, then takes a buffer the
            # size of what the ring holds past the cursor: a buffer sized by max_frames would be
            # fresh memory the kernel zeroes page by page on every call
            if self._read(NULL, 0, max_frames, timeout_ns, &length, &frames) == AP_EMPTY:
                return bytearray()
            size = <size_t>ap_consumer_pending(self.consumer)
            size = min(size, most) if size > length else length
            buffer = PyByteArray_FromStringAndSize(NULL, size)
            rc = self._read(<uint8_t *>PyByteArray_AS_STRING(buffer), size, max_frames, 0,
                            &length, &frames)
            while rc == AP_NEED_ROOM:  # lapped meanwhile, onto a larger frame
                size = length
                PyByteArray_Resize(buffer, size)
                rc = self._read(<uint8_t *>PyByteArray_AS_STRING(buffer), size, max_frames, 0,
                                &length, &frames)
            if rc == AP_OK:
                PyByteArray_Resize(buffer, length)
                return buffer
            # lapped meanwhile past every frame it had seen: wait again

    def gaps(self):
        """The gap reports kept (the newest 1024): (GapReason, position, bytes, frames)."""
        if self.consumer is NULL:
            return list(self.closed_gaps or ())
        cdef uint64_t first = self.consumer.gap_count - AP_GAP_LOG if self.consumer.gap_count > AP_GAP_LOG else 0
        cdef const ap_gap *gap
        reports = []
        for index in range(first, self.consumer.gap_count):
            gap = ap_consumer_gap(self.consumer, index)
            # the log lives in this process's memory, written by ring.c alone: no other reasons
            reports.append((GAP_REASONS[gap.reason], gap.position, gap.bytes, gap.frames))
        return reports

    cdef void _close_now(self):
        if self.consumer is not NULL:
            self.closed_gaps = self.gaps()
        self._release()

    def close(self):
        """Closed at once; the mapping is let go now, or by a read of another thread under
        way when it returns (within a slice of its wait)."""
        if self.reading:
            self.closing = True
        else:
            self._close_now()

    def __dealloc__(self):
        self._release()
