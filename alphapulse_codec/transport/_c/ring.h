/* A broadcast ring in a shared file: several producers, any number of independent consumers.
 *
 * The file is a header of cache-line separated counters and slots, then `capacity` bytes of
 * data (a power of two). Positions are 64-bit byte counts that only grow; a position's place
 * in the data is position & (capacity - 1). Records are 8-byte aligned:
 *
 *   0  u32 length     bytes of the record, this header included
 *   4  u16 producer   slot of the producer that wrote it
 *   6  u8  kind       AP_RECORD_FRAME or AP_RECORD_PADDING
 *   7  u8  reserved
 *   8  u32 sequence   the producer's record number (mod 2^32): exact loss counts
 *  12  u32 lap        (position / capacity) + 1, stored last with release: the commit
 *
 * A producer claims space by compare-and-swap on tail_intent, writes, then commits each record
 * by storing its lap; a consumer reads a record only once its lap matches, and after copying it
 * checks that tail_intent has not passed the record's position plus capacity (the bytes would
 * have been overwritten). See docs/transports.md for the guarantees.
 */
#ifndef ALPHAPULSE_RING_H
#define ALPHAPULSE_RING_H

#include <stddef.h>
#include <stdint.h>

#define AP_RING_MAGIC 0x31474E4952535041ull /* "APSRING1" little-endian */
#define AP_RING_VERSION 1u
#define AP_RING_LINE 128u                   /* two cache lines: no false sharing via prefetch */
#define AP_RING_SLOTS 64u                   /* producer slots and consumer slots, each */
#define AP_RING_SLOT_SIZE 64u
#define AP_RING_ALIGN 8u
#define AP_RECORD_HEADER 16u
#define AP_FRAME_HEADER 32u
#define AP_RING_MIN_CAPACITY 65536ull
#define AP_RING_MAX_CAPACITY (1ull << 36)

#define AP_RECORD_FRAME 1u
#define AP_RECORD_PADDING 2u

#define AP_POLICY_LOSSY 0u         /* market data: producers never wait, slow consumers lap */
#define AP_POLICY_BACKPRESSURE 1u  /* execution: producers wait for the slowest consumer */

#define AP_WAIT_SPIN 0
#define AP_WAIT_YIELD 1
#define AP_WAIT_SLEEP 2

/* results (negative: the call failed; `ap_ring_error` tells why) */
#define AP_OK 0
#define AP_EMPTY 1
#define AP_NEED_ROOM 2     /* the next frame is larger than the buffer: *length tells its size */
#define AP_ERR_SYSTEM -1     /* errno holds the cause */
#define AP_ERR_CORRUPT -2    /* the ring's bytes break its rules */
#define AP_ERR_TIMEOUT -3
#define AP_ERR_FRAME -4      /* a frame given to send is malformed */
#define AP_ERR_FULL -5       /* no free producer or consumer slot */
#define AP_ERR_MISMATCH -6   /* the existing ring has another geometry or policy */
#define AP_ERR_TOO_LARGE -7  /* a frame larger than the ring's largest record */
#define AP_ERR_NOT_ONE -8    /* several frames where one was asked for */

/* Offsets in the header */
#define AP_OFF_TAIL_INTENT (1u * AP_RING_LINE)
#define AP_OFF_TAIL (2u * AP_RING_LINE)
#define AP_OFF_LATEST (3u * AP_RING_LINE)
#define AP_OFF_FUTEX (4u * AP_RING_LINE)
#define AP_OFF_PRODUCERS (5u * AP_RING_LINE)
#define AP_OFF_CONSUMERS (AP_OFF_PRODUCERS + AP_RING_SLOTS * AP_RING_SLOT_SIZE)
#define AP_RING_HEADER_SIZE 16384u /* page aligned data, room for the slots above */

typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t capacity;
    uint32_t policy;
    uint32_t max_record;
    uint16_t producer_slots;
    uint16_t consumer_slots;
    uint32_t reserved;
} ap_ring_identity;

typedef struct {
    uint32_t pid;          /* 0: free; taken by compare-and-swap */
    uint32_t next_sequence;
    uint64_t start_time;   /* the process's start time: a reused pid is not the owner */
    uint64_t claim_start;  /* the claim being written, [start, end); start == end: none */
    uint64_t claim_end;
    uint32_t claim_sequence;
    uint32_t claim_records;
    uint64_t records_sent;
    uint64_t reserved[2];
} ap_producer_slot;

typedef struct {
    uint32_t pid;
    uint32_t reserved0;
    uint64_t start_time;
    uint64_t cursor;       /* published position: producers of a backpressure ring wait for it */
    uint64_t reserved[5];
} ap_consumer_slot;

typedef struct {
    uint32_t length;
    uint16_t producer;
    uint8_t kind;
    uint8_t reserved;
    uint32_t sequence;
    uint32_t lap;
} ap_record_header;

typedef struct {
    int fd;
    uint8_t *base;
    size_t map_size;
    uint8_t *data;
    uint64_t capacity;
    uint64_t mask;
    unsigned lap_shift;
    uint32_t policy;
    uint32_t max_record;
    uint64_t *tail_intent;
    uint64_t *tail;
    uint64_t *latest;
    uint32_t *futex_sequence;
    uint32_t *waiters;
    ap_producer_slot *producers;
    ap_consumer_slot *consumers;
    char error[256];
    uint64_t error_offset;   /* byte offset in the ring file of a corruption */
} ap_ring;

typedef struct {
    ap_ring *ring;
    int slot;
    int wait;
    uint64_t cached_min_cursor;  /* backpressure: the slowest consumer seen at the last scan */
    int64_t liveness_checked_ns; /* backpressure: when consumers' processes were last looked at */
} ap_producer;

#define AP_GAP_LAPPED 1      /* producers overwrote what the consumer had not read */
#define AP_GAP_ABANDONED 2   /* a claim whose producer died before committing it */
#define AP_GAP_STALLED 3     /* a claim left uncommitted past the stall timeout */
#define AP_GAP_SEQUENCE 4    /* a producer's records jumped with no known cause */
#define AP_GAP_LOG 1024

typedef struct {
    uint32_t reason;
    uint32_t producer;       /* for ABANDONED and STALLED: the claim's slot */
    uint64_t position;       /* where the consumer was */
    uint64_t bytes;          /* ring bytes skipped */
    uint64_t frames;         /* frames known lost (grows as producers' sequences show more) */
} ap_gap;

typedef struct {
    ap_ring *ring;
    int slot;                /* consumer slot on a backpressure ring, else -1 */
    int wait;
    uint64_t cursor;
    int64_t stall_timeout_ns;
    uint32_t stall_polls;    /* polls that found the claim at the cursor uncommitted */
    int64_t stall_since_ns;  /* 0: not stalled */
    uint64_t stall_position;
    int64_t owner_checked_ns;
    uint64_t types[4];       /* subscription bitmaps: bit set = wanted */
    uint64_t sources[4];
    uint32_t last_sequence[AP_RING_SLOTS];
    uint64_t sequence_known; /* bit per producer slot */
    ap_gap gaps[AP_GAP_LOG]; /* the newest AP_GAP_LOG reports; older ones merge into totals */
    uint64_t gap_count;
    uint64_t frames_lost;
    uint64_t bytes_lost;
    uint64_t frames_read;
} ap_consumer;

int ap_ring_open(ap_ring *ring, const char *path, uint64_t capacity, int policy);
void ap_ring_close(ap_ring *ring);
int ap_process_alive(uint32_t pid, uint64_t start_time);
uint64_t ap_process_start_time(uint32_t pid);

int ap_producer_attach(ap_producer *producer, ap_ring *ring, int wait);
void ap_producer_detach(ap_producer *producer);
/* Checks every frame of `frames` (magic, size; exactly one frame when `single`), then writes
 * them all; one claim per `max_record`-sized block. Nothing is written when a check fails. */
int ap_producer_send(ap_producer *producer, const uint8_t *frames, size_t length, int single,
                     int64_t timeout_ns, size_t *frames_sent, size_t *bad_offset);
/* Test hook: claims room for `length` frame bytes and never commits them, as a producer
 * killed mid-write leaves it. */
int ap_producer_claim_without_commit(ap_producer *producer, size_t length);

int ap_consumer_attach(ap_consumer *consumer, ap_ring *ring, int wait, int64_t stall_timeout_ns);
void ap_consumer_detach(ap_consumer *consumer);
/* Copies up to `max_frames` frames (at most `capacity` bytes) of the subscription into `out`,
 * waiting up to timeout_ns (< 0: forever) for the first. AP_OK with *frames > 0, AP_EMPTY, or
 * AP_NEED_ROOM when the first frame does not fit in `capacity` (its size in *length): with
 * `capacity` 0 (`out` may then be NULL) a read waits for the subscription's next frame, skipping
 * what it does not want, and copies nothing. */
int ap_consumer_read(ap_consumer *consumer, uint8_t *out, size_t capacity, size_t max_frames,
                     int64_t timeout_ns, size_t *length, size_t *frames);
/* The ring bytes claimed past the consumer's cursor (at most the capacity): records, their
 * headers and padding, so no fewer than the frame bytes a read could copy now. */
uint64_t ap_consumer_pending(const ap_consumer *consumer);
const ap_gap *ap_consumer_gap(const ap_consumer *consumer, uint64_t index);

#endif
