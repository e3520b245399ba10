# Declarations of the broadcast ring's C core (_c/ring.h).
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "ring.h" nogil:
    int AP_OK, AP_EMPTY, AP_NEED_ROOM, AP_ERR_SYSTEM, AP_ERR_CORRUPT, AP_ERR_TIMEOUT, AP_ERR_FRAME
    int AP_ERR_FULL, AP_ERR_MISMATCH, AP_ERR_TOO_LARGE, AP_ERR_NOT_ONE
    int AP_GAP_LAPPED, AP_GAP_ABANDONED, AP_GAP_STALLED, AP_GAP_SEQUENCE, AP_GAP_LOG
    unsigned AP_RING_HEADER_SIZE

    ctypedef struct ap_ring:
        uint64_t capacity
        uint32_t policy
        uint32_t max_record
        char error[256]
        uint64_t error_offset

    ctypedef struct ap_producer:
        int slot

    ctypedef struct ap_gap:
        uint32_t reason
        uint32_t producer
        uint64_t position
        uint64_t bytes
        uint64_t frames

    ctypedef struct ap_consumer:
        int slot
        uint64_t cursor
        uint64_t types[4]
        uint64_t sources[4]
        uint64_t gap_count
        uint64_t frames_lost
        uint64_t bytes_lost
        uint64_t frames_read

    int ap_ring_open(ap_ring *ring, const char *path, uint64_t capacity, int policy)
    void ap_ring_close(ap_ring *ring)

    int ap_producer_attach(ap_producer *producer, ap_ring *ring, int wait)
    void ap_producer_detach(ap_producer *producer)
    int ap_producer_send(ap_producer *producer, const uint8_t *frames, size_t length, bint single, int64_t timeout_ns,
                         size_t *frames_sent, size_t *bad_offset)
    int ap_producer_claim_without_commit(ap_producer *producer, size_t length)

    int ap_consumer_attach(ap_consumer *consumer, ap_ring *ring, int wait, int64_t stall_timeout_ns)
    void ap_consumer_detach(ap_consumer *consumer)
    int ap_consumer_read(ap_consumer *consumer, uint8_t *out, size_t capacity, size_t max_frames,
                         int64_t timeout_ns, size_t *length, size_t *frames)
    uint64_t ap_consumer_pending(const ap_consumer *consumer)
    const ap_gap *ap_consumer_gap(const ap_consumer *consumer, uint64_t index)
