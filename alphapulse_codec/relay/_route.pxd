from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef struct Verdict:
    size_t offset        # of the frame in the scanned buffer
    uint32_t size        # header and payload
    uint8_t message_type
    uint8_t source
    uint8_t code         # RelayCode: 0 accepted, else why refused; ANNOUNCE: Python decides
    uint8_t jumped       # the sequence skipped forward from the source's last one
    uint64_t sequence
    uint64_t gap_first   # when jumped: the first sequence that did not come


cdef class Router:
    cdef uint8_t type_codes[256]   # per message type: 0 accepted, ANNOUNCE, or a RelayCode
    cdef uint32_t max_frame_size
    cdef bint validate_checksums
    cdef bint refuse_back          # a sequence not after the source's last one is refused
    cdef bint report_jumps
    cdef uint64_t last_sequence[256]
    cdef uint8_t seen[256]
    cdef Verdict* verdicts
    cdef size_t capacity
    cdef size_t count              # verdicts of the last scan
    cdef size_t* notable           # indices of verdicts that are not plain accepted frames
    cdef readonly size_t notable_count
    cdef readonly Py_ssize_t consumed   # bytes of the last scan held by whole frames
    cdef readonly bint fatal            # the last scan met bytes that cannot be a frame
    cdef readonly bint announced        # the last scan stopped after a schema announcement
    cdef readonly uint64_t accepted_frames
    cdef readonly uint64_t accepted_bytes

    cdef int _reserve(self, size_t wanted) except -1
    cdef size_t _scan(self, const unsigned char* data, size_t end, Py_ssize_t max_frames) except? 0


cdef class OutQueue:
    cdef unsigned char* data
    cdef size_t capacity
    cdef size_t head          # next byte to send
    cdef size_t tail          # end of the queued bytes
    cdef size_t frame_start   # start of the frame that holds head (head > it: partly sent)
    cdef size_t boundary      # end of that frame
    cdef readonly uint64_t frames       # queued, the partly sent one included
    cdef readonly uint64_t sent_frames
    cdef readonly uint64_t sent_bytes
    cdef readonly uint64_t dropped_frames
    cdef uint8_t type_mask[32]
    cdef uint8_t source_mask[32]

    cdef void _append(self, const unsigned char* source, size_t length, uint64_t frames) noexcept nogil
    cdef void _advance(self, size_t sent) noexcept nogil
    cdef int _make_room(self, size_t length) except -1
