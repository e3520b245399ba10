/* The broadcast ring: see ring.h for the record format and docs/transports.md for the rules. */
#define _GNU_SOURCE
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#define MILLISECOND 1000000ll
/* The yield strategy spins this long before it gives up its core: a producer's records come
 * nanoseconds apart and its batches a microsecond or two apart, while a sched_yield on a busy
 * machine hands the core to another process for a whole time slice, milliseconds. */
#define YIELD_AFTER_NS 10000ll
#define STALL_POLLS 64
#define POSITION_LIMIT (1ull << 62) /* far past any real traffic: a larger counter is corrupt */

static inline uint64_t align8(uint64_t n) { return (n + AP_RING_ALIGN - 1) & ~(uint64_t)(AP_RING_ALIGN - 1); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Copies a frame of `n` bytes (n >= 32, the frame header) between buffers that do not overlap.
 * Frames up to 128 bytes, the common market data messages, take two overlapping fixed-size
 * moves the compiler inlines, where a call to memcpy costs as much as the copy; every byte
 * touched is within [0, n). */
static inline void copy_frame(uint8_t *restrict to, const uint8_t *restrict from, size_t n)
{
    if (n <= 64) {
        __builtin_memcpy(to, from, 32);
        __builtin_memcpy(to + n - 32, from + n - 32, 32);
    } else if (n <= 128) {
        __builtin_memcpy(to, from, 64);
        __builtin_memcpy(to + n - 64, from + n - 64, 64);
    } else {
        memcpy(to, from, n);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static inline uint32_t lap_tag(const ap_ring *ring, uint64_t position)
{
    return (uint32_t)((position >> ring->lap_shift) + 1);
}

static int fail(ap_ring *ring, int code, uint64_t offset, const char *message)
{
    snprintf(ring->error, sizeof ring->error, "%s", message);
    ring->error_offset = offset;
    return code;
}

/* ---- processes: a slot's owner is its pid and that process's start time ---- */

/* The start time (clock ticks since boot) of pid from /proc, or 0 where it cannot be read.
 * `zombie` is set when the process has exited but is not reaped yet. */
static uint64_t read_start_time(uint32_t pid, int *zombie)
{
    char path[64], text[1024];
    *zombie = 0;
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0)
        return 0;
    text[got] = '\0';
    char *after_name = strrchr(text, ')'); /* the command name may hold spaces and parentheses */
    if (!after_name || after_name[1] != ' ')
        return 0;
    char state = after_name[2];
    *zombie = state == 'Z' || state == 'X';
    /* fields after the name: state is field 3, starttime field 22 */
    char *cursor = after_name + 2;
    for (int field = 3; field < 22; field++) {
        cursor = strchr(cursor, ' ');
        if (!cursor)
            return 0;
        cursor++;
    }
    return strtoull(cursor, NULL, 10);
}

uint64_t ap_process_start_time(uint32_t pid)
{
    int zombie;
    return read_start_time(pid, &zombie);
}

int ap_process_alive(uint32_t pid, uint64_t start_time)
{
    if (pid == 0)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return 0;
    int zombie;
    uint64_t started = read_start_time(pid, &zombie);
    if (zombie)
        return 0;
    return start_time == 0 || started == 0 || started == start_time;
}

/* ---- opening the file ---- */

static void bind_pointers(ap_ring *ring, const ap_ring_identity *id)
{
    ring->capacity = id->capacity;
    ring->mask = id->capacity - 1;
    ring->lap_shift = (unsigned)__builtin_ctzll(id->capacity);
    ring->policy = id->policy;
    ring->max_record = id->max_record;
    ring->data = ring->base + id->header_size;
    ring->tail_intent = (uint64_t *)(ring->base + AP_OFF_TAIL_INTENT);
    ring->tail = (uint64_t *)(ring->base + AP_OFF_TAIL);
    ring->latest = (uint64_t *)(ring->base + AP_OFF_LATEST);
    ring->futex_sequence = (uint32_t *)(ring->base + AP_OFF_FUTEX);
    ring->waiters = (uint32_t *)(ring->base + AP_OFF_FUTEX + 4);
    ring->producers = (ap_producer_slot *)(ring->base + AP_OFF_PRODUCERS);
    ring->consumers = (ap_consumer_slot *)(ring->base + AP_OFF_CONSUMERS);
}

static int check_identity(ap_ring *ring, const ap_ring_identity *id, uint64_t file_size)
{
    char message[200];
    if (id->magic != AP_RING_MAGIC)
        return fail(ring, AP_ERR_CORRUPT, 0, "magic: not an alphapulse ring file (expected \"APSRING1\")");
    if (id->version != AP_RING_VERSION) {
        snprintf(message, sizeof message, "version: %u, expected %u", id->version, AP_RING_VERSION);
        return fail(ring, AP_ERR_CORRUPT, 8, message);
    }
    if (id->header_size != AP_RING_HEADER_SIZE) {
        snprintf(message, sizeof message, "header_size: %u, expected %u", id->header_size, AP_RING_HEADER_SIZE);
        return fail(ring, AP_ERR_CORRUPT, 12, message);
    }
    if (id->capacity < AP_RING_MIN_CAPACITY || id->capacity > AP_RING_MAX_CAPACITY
        || (id->capacity & (id->capacity - 1))) {
        snprintf(message, sizeof message, "capacity: %llu, expected a power of two in [%llu, %llu]",
                 (unsigned long long)id->capacity, AP_RING_MIN_CAPACITY, AP_RING_MAX_CAPACITY);
        return fail(ring, AP_ERR_CORRUPT, 16, message);
    }
    if (file_size != id->header_size + id->capacity) {
        snprintf(message, sizeof message, "file size %llu, expected header %u + capacity %llu",
                 (unsigned long long)file_size, id->header_size, (unsigned long long)id->capacity);
        return fail(ring, AP_ERR_CORRUPT, 16, message);
    }
    if (id->policy != AP_POLICY_LOSSY && id->policy != AP_POLICY_BACKPRESSURE) {
        snprintf(message, sizeof message, "policy: %u, expected 0 (lossy) or 1 (backpressure)", id->policy);
        return fail(ring, AP_ERR_CORRUPT, 24, message);
    }
    if (id->max_record != id->capacity / 4) {
        snprintf(message, sizeof message, "max_record: %u, expected capacity / 4 = %llu", id->max_record,
                 (unsigned long long)(id->capacity / 4));
        return fail(ring, AP_ERR_CORRUPT, 28, message);
    }
    if (id->producer_slots != AP_RING_SLOTS || id->consumer_slots != AP_RING_SLOTS) {
        snprintf(message, sizeof message, "slots: %u producers, %u consumers, expected %u each",
                 id->producer_slots, id->consumer_slots, AP_RING_SLOTS);
        return fail(ring, AP_ERR_CORRUPT, 32, message);
    }
    return AP_OK;
}

static int check_counters(ap_ring *ring)
{
    uint64_t intent = LOAD_ACQUIRE(ring->tail_intent), tail = LOAD_ACQUIRE(ring->tail),
             latest = LOAD_ACQUIRE(ring->latest);
    char message[200];
    if (intent >= POSITION_LIMIT || (intent & (AP_RING_ALIGN - 1))) {
        snprintf(message, sizeof message, "tail_intent: %llu, expected an 8-aligned position below 2^62",
                 (unsigned long long)intent);
        return fail(ring, AP_ERR_CORRUPT, AP_OFF_TAIL_INTENT, message);
    }
    if (tail > intent || (tail & (AP_RING_ALIGN - 1))) {
        snprintf(message, sizeof message, "tail: %llu, expected an 8-aligned position <= tail_intent %llu",
                 (unsigned long long)tail, (unsigned long long)intent);
        return fail(ring, AP_ERR_CORRUPT, AP_OFF_TAIL, message);
    }
    if (latest > tail || (latest & (AP_RING_ALIGN - 1)) || (tail && latest == tail)) {
        snprintf(message, sizeof message, "latest: %llu, expected an 8-aligned position below tail %llu",
                 (unsigned long long)latest, (unsigned long long)tail);
        return fail(ring, AP_ERR_CORRUPT, AP_OFF_LATEST, message);
    }
    return AP_OK;
}

static int map_file(ap_ring *ring, int fd, uint64_t size)
{
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    ring->base = base;
    ring->map_size = size;
    return AP_OK;
}

/* Creates the ring under a private name and links it into place whole, so that no process ever
 * opens a half-written header. Returns AP_EMPTY when another process created it first. */
static int create_file(ap_ring *ring, const char *path, uint64_t capacity, int policy)
{
    char temporary[4200];
    if (snprintf(temporary, sizeof temporary, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof temporary)
        return fail(ring, AP_ERR_SYSTEM, 0, "path too long");
    int fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    uint64_t size = AP_RING_HEADER_SIZE + capacity;
    int rc = AP_OK;
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0)
        rc = fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    else if ((rc = map_file(ring, fd, size)) == AP_OK) {
        ap_ring_identity *id = (ap_ring_identity *)ring->base;
        id->version = AP_RING_VERSION;
        id->header_size = AP_RING_HEADER_SIZE;
        id->capacity = capacity;
        id->policy = (uint32_t)policy;
        id->max_record = (uint32_t)(capacity / 4);
        id->producer_slots = AP_RING_SLOTS;
        id->consumer_slots = AP_RING_SLOTS;
        STORE_RELEASE(&id->magic, AP_RING_MAGIC);
        munmap(ring->base, size);
        ring->base = NULL;
        if (link(temporary, path) != 0)
            rc = errno == EEXIST ? AP_EMPTY : fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    }
    close(fd);
    unlink(temporary);
    return rc;
}

int ap_ring_open(ap_ring *ring, const char *path, uint64_t capacity, int policy)
{
    memset(ring, 0, sizeof *ring);
    ring->fd = -1;
    char message[200];
    if (capacity && (capacity < AP_RING_MIN_CAPACITY || capacity > AP_RING_MAX_CAPACITY
                     || (capacity & (capacity - 1)))) {
        snprintf(message, sizeof message, "capacity %llu: expected a power of two in [%llu, %llu]",
                 (unsigned long long)capacity, AP_RING_MIN_CAPACITY, AP_RING_MAX_CAPACITY);
        return fail(ring, AP_ERR_MISMATCH, 0, message);
    }
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && capacity) {
        int created = create_file(ring, path, capacity, policy < 0 ? (int)AP_POLICY_LOSSY : policy);
        if (created < 0)
            return created;
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    ring->fd = fd;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(ring, AP_ERR_MISMATCH, 0, "not a regular file");
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(message, sizeof message, "owned by uid %u with mode %03o: a ring must be the user's own"
                 " and private (0600)", (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
        return fail(ring, AP_ERR_MISMATCH, 0, message);
    }
    ap_ring_identity id;
    if ((uint64_t)st.st_size < AP_RING_HEADER_SIZE) {
        snprintf(message, sizeof message, "file of %llu bytes, shorter than the %u-byte header",
                 (unsigned long long)st.st_size, AP_RING_HEADER_SIZE);
        return fail(ring, AP_ERR_CORRUPT, 0, message);
    }
    if (pread(fd, &id, sizeof id, 0) != (ssize_t)sizeof id)
        return fail(ring, AP_ERR_SYSTEM, 0, strerror(errno));
    int rc = check_identity(ring, &id, (uint64_t)st.st_size);
    if (rc != AP_OK)
        return rc;
    if (capacity && id.capacity != capacity) {
        snprintf(message, sizeof message, "the ring exists with a capacity of %llu bytes, %llu asked:"
                 " remove it or ask for its size", (unsigned long long)id.capacity, (unsigned long long)capacity);
        return fail(ring, AP_ERR_MISMATCH, 16, message);
    }
    if (policy >= 0 && id.policy != (uint32_t)policy) {
        snprintf(message, sizeof message, "the ring exists with policy %s, %s asked",
                 id.policy ? "backpressure" : "lossy", policy ? "backpressure" : "lossy");
        return fail(ring, AP_ERR_MISMATCH, 24, message);
    }
    if ((rc = map_file(ring, fd, (uint64_t)st.st_size)) != AP_OK)
        return rc;
    bind_pointers(ring, &id);
    return check_counters(ring);
}

void ap_ring_close(ap_ring *ring)
{
    if (ring->base)
        munmap(ring->base, ring->map_size);
    if (ring->fd >= 0)
        close(ring->fd);
    ring->base = NULL;
    ring->fd = -1;
}

/* ---- waking sleeping consumers ---- */

static void wake_sleepers(ap_ring *ring)
{
    /* pairs with the fence in sleep_until_committed: a sleeper either sees the commit or is
     * counted here */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (LOAD_RELAXED(ring->waiters) == 0)
        return;
    __atomic_fetch_add(ring->futex_sequence, 1, __ATOMIC_SEQ_CST);
#ifdef __linux__
    syscall(SYS_futex, ring->futex_sequence, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
#endif
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ll), (long)(ns % 1000000000ll)};
    nanosleep(&ts, NULL);
}

static void atomic_max(uint64_t *counter, uint64_t value)
{
    uint64_t seen = LOAD_RELAXED(counter);
    while (seen < value
           && !__atomic_compare_exchange_n(counter, &seen, value, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
}

/* ---- producers ---- */

static int take_slot(uint32_t *pid_word, uint64_t *start_word, uint32_t pid, uint64_t started, int reclaim)
{
    uint32_t seen = LOAD_ACQUIRE(pid_word);
    if (seen == 0 || (reclaim && !ap_process_alive(seen, LOAD_RELAXED(start_word)))) {
        if (__atomic_compare_exchange_n(pid_word, &seen, pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            STORE_RELEASE(start_word, started);
            return 1;
        }
    }
    return 0;
}

int ap_producer_attach(ap_producer *producer, ap_ring *ring, int wait)
{
    memset(producer, 0, sizeof *producer);
    producer->ring = ring;
    producer->wait = wait;
    producer->slot = -1;
    uint32_t pid = (uint32_t)getpid();
    uint64_t started = ap_process_start_time(pid);
    for (int reclaim = 0; reclaim < 2 && producer->slot < 0; reclaim++)
        for (unsigned i = 0; i < AP_RING_SLOTS; i++) {
            ap_producer_slot *slot = &ring->producers[i];
            if (take_slot(&slot->pid, &slot->start_time, pid, started, reclaim)) {
                producer->slot = (int)i;
                break;
            }
        }
    if (producer->slot < 0)
        return fail(ring, AP_ERR_FULL, AP_OFF_PRODUCERS, "all 64 producer slots are held by live processes");
    return AP_OK;
}

void ap_producer_detach(ap_producer *producer)
{
    if (producer->slot >= 0)
        STORE_RELEASE(&producer->ring->producers[producer->slot].pid, 0);
    producer->slot = -1;
}

/* The slowest live consumer's cursor, or `otherwise` when none is registered. Slots of dead
 * consumers are freed on the way. */
static uint64_t slowest_consumer(ap_ring *ring, uint64_t otherwise, int check_liveness)
{
    uint64_t slowest = otherwise;
    for (unsigned i = 0; i < AP_RING_SLOTS; i++) {
        ap_consumer_slot *slot = &ring->consumers[i];
        uint32_t pid = LOAD_ACQUIRE(&slot->pid);
        if (pid == 0)
            continue;
        if (check_liveness && !ap_process_alive(pid, LOAD_RELAXED(&slot->start_time))) {
            __atomic_compare_exchange_n(&slot->pid, &pid, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
            continue;
        }
        uint64_t cursor = LOAD_ACQUIRE(&slot->cursor);
        if (cursor < slowest)
            slowest = cursor;
    }
    return slowest;
}

/* One pause of a wait begun at `since` (now_ns), `now` being the time. */
static void producer_wait_step(int wait, int64_t since, int64_t now)
{
    if (wait == AP_WAIT_SPIN || (wait == AP_WAIT_YIELD && now - since < YIELD_AFTER_NS))
        cpu_relax();
    else if (wait == AP_WAIT_YIELD)
        sched_yield();
    else
        sleep_ns(20000);
}

/* Claims `need` bytes for `records` records: returns the position of the first record; the
 * position claimed from (where padding to the lap's end starts, if any) goes to *from. */
static int claim(ap_producer *producer, uint64_t need, uint32_t records, int64_t timeout_ns,
                 int64_t *deadline, uint64_t *from, uint64_t *start)
{
    ap_ring *ring = producer->ring;
    ap_producer_slot *slot = &ring->producers[producer->slot];
    uint32_t sequence = LOAD_RELAXED(&slot->next_sequence);
    int64_t waiting_since = 0;
    for (;;) {
        uint64_t intent = LOAD_ACQUIRE(ring->tail_intent);
        uint64_t room = ring->capacity - (intent & ring->mask);
        uint64_t first = room < need ? intent + room : intent;
        uint64_t end = first + need;
        if (ring->policy == AP_POLICY_BACKPRESSURE && end - producer->cached_min_cursor > ring->capacity) {
            int64_t now = now_ns();
            /* once a millisecond, whatever the number of sends that find the ring full: a
             * look at /proc costs microseconds */
            int check = now - producer->liveness_checked_ns >= MILLISECOND;
            if (check)
                producer->liveness_checked_ns = now;
            producer->cached_min_cursor = slowest_consumer(ring, intent, check);
            if (end - producer->cached_min_cursor > ring->capacity) {
                if (*deadline == 0) /* the timeout runs from the send's first wait */
                    *deadline = timeout_ns < 0 ? INT64_MAX : now + timeout_ns;
                if (now >= *deadline)
                    return fail(ring, AP_ERR_TIMEOUT, 0, "the slowest consumer did not make room in time");
                /* the consumers' cursor lines are read again only after a pause: reading them
                 * in a tight loop takes them from the consumers that write them */
                if (waiting_since == 0)
                    waiting_since = now;
                for (int pause = 0; pause < 16; pause++)
                    producer_wait_step(producer->wait, waiting_since, now);
                continue;
            }
        }
        /* published before the claim, so a consumer that finds the claim unfinished can tell
         * whose it is and where it ends (start first: a reader that sees the new end sees it) */
        STORE_RELAXED(&slot->claim_sequence, sequence);
        STORE_RELAXED(&slot->claim_records, records);
        STORE_RELEASE(&slot->claim_start, intent);
        STORE_RELEASE(&slot->claim_end, end);
        if (__atomic_compare_exchange_n(ring->tail_intent, &intent, end, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            STORE_RELEASE(&slot->next_sequence, sequence + records);
            *from = intent;
            *start = first;
            return AP_OK;
        }
    }
}

static void write_padding(ap_producer *producer, uint64_t from, uint64_t start)
{
    ap_ring *ring = producer->ring;
    uint64_t length = start - from;
    if (length < AP_RECORD_HEADER) /* too short for a header: consumers skip it unread */
        return;
    ap_record_header *header = (ap_record_header *)(ring->data + (from & ring->mask));
    header->length = (uint32_t)length;
    header->producer = (uint16_t)producer->slot;
    header->kind = AP_RECORD_PADDING;
    header->reserved = 0;
    header->sequence = 0;
    STORE_RELEASE(&header->lap, lap_tag(ring, from));
}

/* Writes and commits the records of one claim: the frames [frames, frames + bytes). */
static uint64_t write_records(ap_producer *producer, uint64_t position, const uint8_t *frames,
                              size_t bytes, uint32_t sequence)
{
    ap_ring *ring = producer->ring;
    uint64_t last = position;
    size_t offset = 0;
    while (offset < bytes) {
        const uint8_t *frame = frames + offset;
        uint32_t payload;
        memcpy(&payload, frame + 8, 4);
        size_t length = AP_FRAME_HEADER + (size_t)payload;
        /* a producer held up for a whole lap (stopped, swapped out) must not write over the
         * newer records now there: it gives up the rest of its claim, which readers have
         * passed. The window left, between this check and the copy, is what the frames' CRC
         * is for. */
        if (LOAD_ACQUIRE(ring->tail_intent) - position > ring->capacity)
            break;
        ap_record_header *header = (ap_record_header *)(ring->data + (position & ring->mask));
        header->length = (uint32_t)(AP_RECORD_HEADER + length);
        header->producer = (uint16_t)producer->slot;
        header->kind = AP_RECORD_FRAME;
        header->reserved = 0;
        header->sequence = sequence++;
        copy_frame((uint8_t *)header + AP_RECORD_HEADER, frame, length);
        STORE_RELEASE(&header->lap, lap_tag(ring, position));
        last = position;
        position += align8(AP_RECORD_HEADER + length);
        offset += length;
    }
    return last;
}

static void finish_claim(ap_producer *producer, uint64_t end, uint64_t last_record, uint32_t records)
{
    ap_ring *ring = producer->ring;
    ap_producer_slot *slot = &ring->producers[producer->slot];
    atomic_max(ring->tail, end);
    atomic_max(ring->latest, last_record);
    STORE_RELEASE(&slot->claim_start, end);
    STORE_RELAXED(&slot->records_sent, LOAD_RELAXED(&slot->records_sent) + records);
    wake_sleepers(ring);
}

/* Checks the frames; their count and the ring bytes their records take go to *count, *room. */
static int check_frames(ap_producer *producer, const uint8_t *frames, size_t length, size_t *count,
                        uint64_t *room, size_t *bad_offset)
{
    ap_ring *ring = producer->ring;
    char message[200];
    size_t offset = 0, n = 0;
    uint64_t records = 0;
    uint64_t largest = ring->max_record - AP_RECORD_HEADER;
    while (offset < length) {
        *bad_offset = offset;
        if (length - offset < AP_FRAME_HEADER) {
            snprintf(message, sizeof message, "%zu bytes left, shorter than a 32-byte frame header",
                     length - offset);
            return fail(ring, AP_ERR_FRAME, offset, message);
        }
        uint32_t magic, payload;
        memcpy(&magic, frames + offset, 4);
        memcpy(&payload, frames + offset + 8, 4);
        if (magic != 0xDEADBEEFu) {
            snprintf(message, sizeof message, "magic 0x%08X, expected 0xDEADBEEF", magic);
            return fail(ring, AP_ERR_FRAME, offset, message);
        }
        uint64_t frame_length = AP_FRAME_HEADER + (uint64_t)payload;
        if (frame_length > largest) {
            snprintf(message, sizeof message, "payload_size %u makes a %llu-byte frame; this ring's records"
                     " hold frames up to %llu bytes (a quarter of its capacity, less 16)", payload,
                     (unsigned long long)frame_length, (unsigned long long)largest);
            return fail(ring, AP_ERR_TOO_LARGE, offset + 8, message);
        }
        if (frame_length > length - offset) {
            snprintf(message, sizeof message, "payload_size %u runs %llu bytes past the buffer's end", payload,
                     (unsigned long long)(frame_length - (length - offset)));
            return fail(ring, AP_ERR_FRAME, offset + 8, message);
        }
        offset += frame_length;
        records += align8(AP_RECORD_HEADER + frame_length);
        n++;
    }
    *count = n;
    *room = records;
    return AP_OK;
}

int ap_producer_send(ap_producer *producer, const uint8_t *frames, size_t length, int single,
                     int64_t timeout_ns, size_t *frames_sent, size_t *bad_offset)
{
    ap_ring *ring = producer->ring;
    size_t count;
    uint64_t room;
    *frames_sent = 0;
    int rc = check_frames(producer, frames, length, &count, &room, bad_offset);
    if (rc != AP_OK)
        return rc;
    if (single && count != 1) {
        char message[120];
        snprintf(message, sizeof message, "%zu frames in %zu bytes, where one was expected", count, length);
        return fail(ring, AP_ERR_NOT_ONE, 0, message);
    }
    int64_t deadline = 0;
    size_t offset = 0;
    while (offset < length) {
        /* as many frames as one record-sized claim holds: all of them, mostly */
        size_t bytes = 0;
        uint64_t need = 0;
        uint32_t records = 0;
        if (offset == 0 && room <= ring->max_record) {
            bytes = length;
            need = room;
            records = (uint32_t)count;
        }
        while (offset + bytes < length) {
            uint32_t payload;
            memcpy(&payload, frames + offset + bytes + 8, 4);
            uint64_t record = align8(AP_RECORD_HEADER + AP_FRAME_HEADER + (uint64_t)payload);
            if (records && need + record > ring->max_record)
                break;
            need += record;
            bytes += AP_FRAME_HEADER + (size_t)payload;
            records++;
        }
        uint64_t from, start;
        rc = claim(producer, need, records, timeout_ns, &deadline, &from, &start);
        if (rc != AP_OK)
            return rc;
        uint32_t sequence = LOAD_RELAXED(&ring->producers[producer->slot].claim_sequence);
        write_padding(producer, from, start);
        uint64_t last = write_records(producer, start, frames + offset, bytes, sequence);
        finish_claim(producer, start + need, last, records);
        offset += bytes;
        *frames_sent += records;
    }
    return AP_OK;
}

int ap_producer_claim_without_commit(ap_producer *producer, size_t length)
{
    uint64_t from, start;
    int64_t deadline = 0;
    return claim(producer, align8(AP_RECORD_HEADER + length), 1, -1, &deadline, &from, &start);
}

/* ---- consumers ---- */

int ap_consumer_attach(ap_consumer *consumer, ap_ring *ring, int wait, int64_t stall_timeout_ns)
{
    memset(consumer, 0, sizeof *consumer);
    consumer->ring = ring;
    consumer->wait = wait;
    consumer->slot = -1;
    consumer->stall_timeout_ns = stall_timeout_ns;
    memset(consumer->types, 0xff, sizeof consumer->types);
    memset(consumer->sources, 0xff, sizeof consumer->sources);
    /* every producer slot's numbering as it stands: a record past the start position carries
     * a later number (its number is published after its claim), so a jump counts lost frames
     * even of producers not yet heard from */
    for (unsigned i = 0; i < AP_RING_SLOTS; i++)
        consumer->last_sequence[i] = LOAD_ACQUIRE(&ring->producers[i].next_sequence) - 1;
    consumer->sequence_known = ~0ull;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (ring->policy == AP_POLICY_BACKPRESSURE) {
        uint32_t pid = (uint32_t)getpid();
        uint64_t started = ap_process_start_time(pid);
        for (int reclaim = 0; reclaim < 2 && consumer->slot < 0; reclaim++)
            for (unsigned i = 0; i < AP_RING_SLOTS; i++) {
                ap_consumer_slot *slot = &ring->consumers[i];
                if (take_slot(&slot->pid, &slot->start_time, pid, started, reclaim)) {
                    consumer->slot = (int)i;
                    break;
                }
            }
        if (consumer->slot < 0)
            return fail(ring, AP_ERR_FULL, AP_OFF_CONSUMERS, "all 64 consumer slots are held by live processes");
        ap_consumer_slot *slot = &ring->consumers[consumer->slot];
        /* producers that scanned before this slot was taken claim no further than the slowest
         * cursor they saw plus capacity, and that cursor is at most this one */
        STORE_RELEASE(&slot->cursor, LOAD_ACQUIRE(ring->tail_intent));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        consumer->cursor = LOAD_ACQUIRE(&slot->cursor);
    } else {
        consumer->cursor = LOAD_ACQUIRE(ring->tail_intent);
    }
    return AP_OK;
}

void ap_consumer_detach(ap_consumer *consumer)
{
    if (consumer->slot >= 0)
        STORE_RELEASE(&consumer->ring->consumers[consumer->slot].pid, 0);
    consumer->slot = -1;
}

static ap_gap *add_gap(ap_consumer *consumer, uint32_t reason, uint32_t producer, uint64_t bytes,
                       uint64_t frames)
{
    ap_gap *gap = &consumer->gaps[consumer->gap_count % AP_GAP_LOG];
    gap->reason = reason;
    gap->producer = producer;
    gap->position = consumer->cursor;
    gap->bytes = bytes;
    gap->frames = frames;
    consumer->gap_count++;
    consumer->bytes_lost += bytes;
    consumer->frames_lost += frames;
    return gap;
}

const ap_gap *ap_consumer_gap(const ap_consumer *consumer, uint64_t index)
{
    if (index >= consumer->gap_count || consumer->gap_count - index > AP_GAP_LOG)
        return NULL;
    return &consumer->gaps[index % AP_GAP_LOG];
}

/* A producer's records are numbered: a jump in the numbers is frames this consumer lost, added
 * to the newest gap report (the lap or skip that lost them). */
static void track_sequence(ap_consumer *consumer, uint32_t producer, uint32_t sequence)
{
    uint64_t bit = 1ull << producer;
    if (consumer->sequence_known & bit) {
        uint32_t missing = sequence - consumer->last_sequence[producer] - 1;
        if (missing != 0 && missing < 0x80000000u) { /* else: an older number, a slot reset */
            if (consumer->gap_count == 0)
                add_gap(consumer, AP_GAP_SEQUENCE, producer, 0, 0);
            ap_gap *newest = &consumer->gaps[(consumer->gap_count - 1) % AP_GAP_LOG];
            newest->frames += missing;
            consumer->frames_lost += missing;
        }
    }
    consumer->sequence_known |= bit;
    consumer->last_sequence[producer] = sequence;
}

static void move_cursor(ap_consumer *consumer, uint64_t position)
{
    consumer->cursor = position;
    if (consumer->slot >= 0)
        STORE_RELEASE(&consumer->ring->consumers[consumer->slot].cursor, position);
}

static void resync_after_lap(ap_consumer *consumer, uint64_t intent)
{
    ap_ring *ring = consumer->ring;
    uint64_t latest = LOAD_ACQUIRE(ring->latest);
    /* the newest committed record if it is still whole, else the claims' end */
    uint64_t target = latest > consumer->cursor && latest <= intent && intent - latest <= ring->capacity
                          ? latest : intent;
    add_gap(consumer, AP_GAP_LAPPED, 0xffff, target - consumer->cursor, 0);
    move_cursor(consumer, target);
}

static int corrupt_record(ap_consumer *consumer, uint64_t position, uint64_t field, const char *message)
{
    char text[220];
    snprintf(text, sizeof text, "record at position %llu: %s", (unsigned long long)position, message);
    return fail(consumer->ring, AP_ERR_CORRUPT, AP_RING_HEADER_SIZE + (position & consumer->ring->mask) + field,
                text);
}

static int corrupt_counter(ap_consumer *consumer, uint64_t intent)
{
    char text[220];
    snprintf(text, sizeof text, "tail_intent: %llu, behind this consumer's position %llu or past 2^62",
             (unsigned long long)intent, (unsigned long long)consumer->cursor);
    return fail(consumer->ring, AP_ERR_CORRUPT, AP_OFF_TAIL_INTENT, text);
}

/* What is wrong with a committed record's header and frame, or NULL. */
static const char *record_fault(const ap_ring *ring, const ap_record_header *header, const uint8_t *frame,
                                uint64_t room, uint64_t *field)
{
    uint32_t length = header->length;
    if (header->kind == AP_RECORD_PADDING) {
        *field = 0;
        return length == room ? NULL : "padding length is not the rest of the lap";
    }
    if (header->kind != AP_RECORD_FRAME) {
        *field = 6;
        return "kind is neither frame (1) nor padding (2)";
    }
    if (header->producer >= AP_RING_SLOTS) {
        *field = 4;
        return "producer slot past 63";
    }
    if (length < AP_RECORD_HEADER + AP_FRAME_HEADER || length > room || length > ring->max_record) {
        *field = 0;
        return "length outside [48, rest of the lap, max_record]";
    }
    uint32_t magic, payload;
    memcpy(&magic, frame, 4);
    memcpy(&payload, frame + 8, 4);
    if (magic != 0xDEADBEEFu) {
        *field = AP_RECORD_HEADER;
        return "frame magic is not 0xDEADBEEF";
    }
    if ((uint64_t)AP_FRAME_HEADER + payload != length - AP_RECORD_HEADER) {
        *field = AP_RECORD_HEADER + 8;
        return "frame payload_size disagrees with the record length";
    }
    return NULL;
}

static inline int wanted(const ap_consumer *consumer, const uint8_t *frame)
{
    uint8_t type = frame[4], source = frame[6];
    return (consumer->types[type >> 6] >> (type & 63) & 1) && (consumer->sources[source >> 6] >> (source & 63) & 1);
}

/* One pass over the committed records at the cursor, without waiting. */
static int poll(ap_consumer *consumer, uint8_t *out, size_t capacity, size_t max_frames, size_t *length,
                size_t *frames)
{
    ap_ring *ring = consumer->ring;
    uint64_t position = consumer->cursor;
    size_t copied = 0, count = 0;
    uint64_t intent = LOAD_ACQUIRE(ring->tail_intent);
    /* a backpressure ring's producers wait on this consumer's published cursor: a long read
     * publishes it as it goes, so that they write while it copies instead of taking turns */
    uint64_t *published = consumer->slot >= 0 ? &ring->consumers[consumer->slot].cursor : NULL;
    uint64_t publish_at = position + (ring->capacity >> 4);
    while (count < max_frames) {
        if (intent < position || intent >= POSITION_LIMIT)
            return corrupt_counter(consumer, intent);
        if (intent - position > ring->capacity) {
            consumer->cursor = position;
            resync_after_lap(consumer, intent);
            position = consumer->cursor;
            continue;
        }
        if (position == intent)
            break;
        uint64_t room = ring->capacity - (position & ring->mask);
        if (room < AP_RECORD_HEADER) {
            position += room;
            continue;
        }
        ap_record_header *header = (ap_record_header *)(ring->data + (position & ring->mask));
        if (LOAD_ACQUIRE(&header->lap) != lap_tag(ring, position))
            break; /* not committed yet */
        ap_record_header seen; /* read once: a lapping producer may be rewriting it */
        memcpy(&seen, header, sizeof seen);
        uint32_t record_length = seen.length;
        uint64_t field;
        const uint8_t *frame = (const uint8_t *)header + AP_RECORD_HEADER;
        const char *fault = record_fault(ring, &seen, frame, room, &field);
        size_t frame_length = record_length - AP_RECORD_HEADER;
        int take = !fault && seen.kind == AP_RECORD_FRAME && wanted(consumer, frame);
        if (take) {
            if (frame_length > capacity - copied) {
                if (count)
                    break; /* the caller's buffer is full */
                if (position != consumer->cursor)
                    move_cursor(consumer, position); /* past what it skipped to get here */
                *length = frame_length;
                return AP_NEED_ROOM;
            }
            copy_frame(out + copied, frame, frame_length);
        }
        /* whatever was read is only good if no producer has claimed past it since */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t after = LOAD_ACQUIRE(ring->tail_intent);
        if (after - position > ring->capacity || after < intent) {
            intent = after;
            continue; /* lapped while reading: the top of the loop resyncs */
        }
        intent = after;
        if (fault) {
            consumer->cursor = position;
            return corrupt_record(consumer, position, field, fault);
        }
        if (seen.kind == AP_RECORD_PADDING) {
            position += room;
            continue;
        }
        track_sequence(consumer, seen.producer, seen.sequence);
        if (take) {
            copied += frame_length;
            count++;
        }
        position += align8(record_length);
        if (published && position >= publish_at) {
            STORE_RELEASE(published, position);
            publish_at = position + (ring->capacity >> 4);
        }
    }
    if (position != consumer->cursor)
        move_cursor(consumer, position);
    consumer->frames_read += count;
    *length = copied;
    *frames = count;
    return count ? AP_OK : AP_EMPTY;
}

/* The producer slot whose unfinished claim covers `position`, or -1. */
static int claim_owner(ap_ring *ring, uint64_t position, uint64_t *end, uint32_t *sequence, uint32_t *records)
{
    for (unsigned i = 0; i < AP_RING_SLOTS; i++) {
        ap_producer_slot *slot = &ring->producers[i];
        if (LOAD_ACQUIRE(&slot->pid) == 0)
            continue;
        uint64_t claim_end = LOAD_ACQUIRE(&slot->claim_end);
        uint64_t claim_start = LOAD_ACQUIRE(&slot->claim_start);
        if (claim_start <= position && position < claim_end && claim_end - claim_start <= ring->capacity) {
            *end = claim_end;
            *sequence = LOAD_RELAXED(&slot->claim_sequence);
            *records = LOAD_RELAXED(&slot->claim_records);
            return (int)i;
        }
    }
    return -1;
}

static void skip_claim(ap_consumer *consumer, uint32_t reason, int owner, uint64_t end, uint32_t sequence,
                       uint32_t records)
{
    /* the claim's records this consumer has not read yet */
    uint32_t unread = records;
    uint64_t bit = 1ull << owner;
    if (consumer->sequence_known & bit) {
        uint32_t read = consumer->last_sequence[owner] + 1 - sequence;
        if (read <= records)
            unread = records - read;
    }
    add_gap(consumer, reason, (uint32_t)owner, end - consumer->cursor, unread);
    consumer->sequence_known |= bit;
    consumer->last_sequence[owner] = sequence + records - 1;
    move_cursor(consumer, end);
}

/* Something is claimed at the cursor but not committed. Returns 1 when the cursor moved past
 * it, 0 to go on waiting. */
static int handle_stall(ap_consumer *consumer, uint64_t intent)
{
    ap_ring *ring = consumer->ring;
    int64_t now = now_ns();
    if (consumer->stall_since_ns == 0 || consumer->stall_position != consumer->cursor) {
        consumer->stall_since_ns = now;
        consumer->stall_position = consumer->cursor;
        consumer->owner_checked_ns = now;
        return 0;
    }
    int timed_out = now - consumer->stall_since_ns >= consumer->stall_timeout_ns;
    if (!timed_out && now - consumer->owner_checked_ns < MILLISECOND)
        return 0;
    consumer->owner_checked_ns = now;
    uint64_t end;
    uint32_t sequence, records;
    int owner = claim_owner(ring, consumer->cursor, &end, &sequence, &records);
    if (owner >= 0) {
        ap_producer_slot *slot = &ring->producers[owner];
        if (!ap_process_alive(LOAD_ACQUIRE(&slot->pid), LOAD_RELAXED(&slot->start_time)))
            skip_claim(consumer, AP_GAP_ABANDONED, owner, end, sequence, records);
        else if (timed_out)
            skip_claim(consumer, AP_GAP_STALLED, owner, end, sequence, records);
        else
            return 0;
    } else if (timed_out) {
        /* no slot tells where the claim ends: go to the newest record, else past every claim */
        uint64_t latest = LOAD_ACQUIRE(ring->latest);
        uint64_t target = latest > consumer->cursor && latest <= intent ? latest : intent;
        add_gap(consumer, AP_GAP_ABANDONED, 0xffff, target - consumer->cursor, 0);
        move_cursor(consumer, target);
    } else {
        return 0;
    }
    consumer->stall_since_ns = 0;
    return 1;
}

uint64_t ap_consumer_pending(const ap_consumer *consumer)
{
    uint64_t intent = LOAD_ACQUIRE(consumer->ring->tail_intent);
    uint64_t pending = intent > consumer->cursor ? intent - consumer->cursor : 0;
    return pending < consumer->ring->capacity ? pending : consumer->ring->capacity;
}

static int committed_at_cursor(ap_consumer *consumer)
{
    ap_ring *ring = consumer->ring;
    uint64_t position = consumer->cursor;
    uint64_t intent = LOAD_ACQUIRE(ring->tail_intent);
    if (intent == position)
        return 0;
    if (intent - position > ring->capacity)
        return 1; /* lapped: a read resyncs */
    uint64_t room = ring->capacity - (position & ring->mask);
    if (room < AP_RECORD_HEADER)
        return 1;
    ap_record_header *header = (ap_record_header *)(ring->data + (position & ring->mask));
    return LOAD_ACQUIRE(&header->lap) == lap_tag(ring, position);
}

static void sleep_until_committed(ap_consumer *consumer, int64_t limit_ns)
{
    ap_ring *ring = consumer->ring;
    __atomic_fetch_add(ring->waiters, 1, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t seen = LOAD_ACQUIRE(ring->futex_sequence);
    if (!committed_at_cursor(consumer)) {
#ifdef __linux__
        struct timespec ts = {(time_t)(limit_ns / 1000000000ll), (long)(limit_ns % 1000000000ll)};
        syscall(SYS_futex, ring->futex_sequence, FUTEX_WAIT, seen, &ts, NULL, 0);
#else
        (void)seen;
        sleep_ns(limit_ns < 50000 ? limit_ns : 50000);
#endif
    }
    __atomic_fetch_sub(ring->waiters, 1, __ATOMIC_SEQ_CST);
}

int ap_consumer_read(ap_consumer *consumer, uint8_t *out, size_t capacity, size_t max_frames, int64_t timeout_ns,
                     size_t *length, size_t *frames)
{
    int64_t deadline = 0; /* taken at the first wait: a read of what is there needs no clock */
    int64_t waiting_since = 0;
    unsigned idle = 0;
    *length = 0;
    *frames = 0;
    for (;;) {
        int rc = poll(consumer, out, capacity, max_frames, length, frames);
        if (rc != AP_EMPTY) {
            consumer->stall_polls = 0;
            consumer->stall_since_ns = 0;
            return rc;
        }
        uint64_t intent = LOAD_ACQUIRE(consumer->ring->tail_intent);
        int stalled = intent > consumer->cursor;
        if (stalled) {
            /* a claim is mostly committed a few polls after it is seen: the stall's clock
             * starts after those, not on the way of every frame */
            if (++consumer->stall_polls > STALL_POLLS && handle_stall(consumer, intent))
                continue;
        } else {
            consumer->stall_polls = 0;
            consumer->stall_since_ns = 0;
        }
        if (timeout_ns == 0)
            return AP_EMPTY;
        if (deadline == 0)
            deadline = timeout_ns < 0 ? INT64_MAX : now_ns() + timeout_ns;
        int64_t now = (consumer->wait != AP_WAIT_SPIN || (++idle & 1023) == 0) ? now_ns() : 0;
        if (now && now >= deadline)
            return AP_EMPTY;
        if (waiting_since == 0)
            waiting_since = now;
        if (consumer->wait == AP_WAIT_SPIN
            || (consumer->wait == AP_WAIT_YIELD && now - waiting_since < YIELD_AFTER_NS))
            cpu_relax();
        else if (consumer->wait == AP_WAIT_YIELD)
            sched_yield();
        else if (++idle < 64)
            cpu_relax();
        else {
            /* a stalled claim is looked at again every millisecond; otherwise a commit wakes us */
            int64_t limit = deadline - now;
            int64_t cap = stalled ? MILLISECOND : 100 * MILLISECOND;
            sleep_until_committed(consumer, limit < cap ? limit : cap);
        }
    }
}
