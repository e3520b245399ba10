/* The large row buffers of a batch decode.
   They start small and grow with what a decode keeps, never with the size of its input: a
   multi-GiB input of many types would otherwise reserve tens of GiB of address space. Below
   AP_MAP_THRESHOLD they double through realloc; above it they grow by half at a time, so
   that the room reserved stays within 1.5 times the bytes kept, and by mremap, which moves
   pages rather than copying them, so the smaller growth steps cost nothing per byte.
   On Linux the large ones are mapped directly rather than taken from malloc: glibc raises its
   mmap threshold after each large free, so buffers of the next chunks would come from the
   heap and stay resident after their arrays are gone; a mapping is returned whole. Large
   mappings also ask for transparent huge pages, which cuts page faults 512-fold, as numpy
   does. */
#ifndef ALPHAPULSE_MEMORY_H
#define ALPHAPULSE_MEMORY_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define AP_MAP_THRESHOLD ((size_t)1 << 20)
#define AP_FIRST_CAPACITY ((size_t)1 << 16)

/* The capacity to grow `capacity` (0: none yet) to so that it holds `wanted` bytes. */
static inline size_t ap_next_capacity(size_t capacity, size_t wanted) {
    if (capacity == 0)
        capacity = AP_FIRST_CAPACITY;
    while (capacity < wanted)
        capacity += capacity < AP_MAP_THRESHOLD ? capacity : capacity / 2;
    return capacity;
}

#if defined(__linux__)
#include <sys/mman.h> /* mremap: Python.h, included first, defines _GNU_SOURCE */
#define AP_HUGE_PAGE_THRESHOLD ((size_t)4 << 20)
#define AP_PAGE ((size_t)4096)

/* Mappings released by one decode are kept for the next (the chunks of one capture, the
   next capture): their pages are already there, so the kernel neither faults nor zeroes them
   again. A few, of bounded size; ap_cache_release() hands them back to the system. A spin
   lock guards them, as decoders run without the GIL. */
#define AP_CACHE_SLOTS 4
#define AP_CACHE_MAX ((size_t)256 << 20) /* in all: what stays resident after a decode */

static struct { void *data; size_t capacity; } ap_cache[AP_CACHE_SLOTS];
static size_t ap_cached;
static char ap_cache_busy;

static inline void ap_cache_lock(void) {
    while (__atomic_test_and_set(&ap_cache_busy, __ATOMIC_ACQUIRE))
        ;
}

static inline void ap_cache_unlock(void) { __atomic_clear(&ap_cache_busy, __ATOMIC_RELEASE); }

static inline size_t ap_page_round(size_t size) { return (size + AP_PAGE - 1) & ~(AP_PAGE - 1); }

static inline void ap_advise(void *data, size_t capacity) {
#ifdef MADV_HUGEPAGE
    if (capacity >= AP_HUGE_PAGE_THRESHOLD)
        madvise(data, capacity, MADV_HUGEPAGE);
#else
    (void)data;
    (void)capacity;
#endif
}

/* The largest cached mapping of at least *capacity bytes, or NULL; *capacity is set to its
   size. Taking it adds no address space, and spares faulting and zeroing its pages. */
static inline void *ap_cache_take(size_t *capacity) {
    void *data = NULL;
    int best = -1;
    ap_cache_lock();
    for (int i = 0; i < AP_CACHE_SLOTS; i++) {
        if (ap_cache[i].data != NULL && ap_cache[i].capacity >= *capacity &&
            (best < 0 || ap_cache[i].capacity > ap_cache[best].capacity))
            best = i;
    }
    if (best >= 0) {
        data = ap_cache[best].data;
        *capacity = ap_cache[best].capacity;
        ap_cache[best].data = NULL;
        ap_cached -= *capacity;
    }
    ap_cache_unlock();
    return data;
}

/* Keep a released mapping for the next decode when the cache has room, making room by
   unmapping smaller ones, smallest first: the larger mapping spares more faults, and the
   largest buffer of a decode (its rows) is often freed after its smaller ones. */
static inline void ap_release(void *data, size_t capacity) {
    void *evicted[AP_CACHE_SLOTS];
    size_t evicted_capacity[AP_CACHE_SLOTS];
    int evictions = 0;
    if (data == NULL)
        return;
    if (capacity < AP_MAP_THRESHOLD) {
        free(data);
        return;
    }
    ap_cache_lock();
    while (capacity <= AP_CACHE_MAX) {
        int empty = -1, smallest = -1;
        for (int i = 0; i < AP_CACHE_SLOTS; i++) {
            if (ap_cache[i].data == NULL)
                empty = i;
            else if (ap_cache[i].capacity < capacity &&
                     (smallest < 0 || ap_cache[i].capacity < ap_cache[smallest].capacity))
                smallest = i;
        }
        if (empty >= 0 && ap_cached + capacity <= AP_CACHE_MAX) {
            ap_cache[empty].data = data;
            ap_cache[empty].capacity = capacity;
            ap_cached += capacity;
            data = NULL;
            break;
        }
        if (smallest < 0)
            break;
        evicted[evictions] = ap_cache[smallest].data;
        evicted_capacity[evictions++] = ap_cache[smallest].capacity;
        ap_cached -= ap_cache[smallest].capacity;
        ap_cache[smallest].data = NULL;
    }
    ap_cache_unlock();
    for (int i = 0; i < evictions; i++)
        munmap(evicted[i], evicted_capacity[i]);
    if (data != NULL)
        munmap(data, capacity);
}

/* Bytes of the mappings the cache holds. */
static inline size_t ap_cache_size(void) {
    ap_cache_lock();
    size_t size = ap_cached;
    ap_cache_unlock();
    return size;
}

/* Unmap every cached mapping; returns the bytes handed back. */
static inline size_t ap_cache_release(void) {
    void *data[AP_CACHE_SLOTS];
    size_t capacity[AP_CACHE_SLOTS], released = 0;
    ap_cache_lock();
    for (int i = 0; i < AP_CACHE_SLOTS; i++) {
        data[i] = ap_cache[i].data;
        capacity[i] = ap_cache[i].capacity;
        ap_cache[i].data = NULL;
    }
    ap_cached = 0;
    ap_cache_unlock();
    for (int i = 0; i < AP_CACHE_SLOTS; i++) {
        if (data[i] != NULL) {
            munmap(data[i], capacity[i]);
            released += capacity[i];
        }
    }
    return released;
}

/* Room for *capacity bytes holding the first `size` bytes of `data` (of `old_capacity`);
   *capacity is set to the room given. A buffer becoming large takes a cached mapping when
   there is one; a mapped one grows in place or moves, its pages never copied. */
static inline void *ap_grow(void *data, size_t size, size_t old_capacity, size_t *capacity) {
    void *grown;
    if (*capacity < AP_MAP_THRESHOLD)
        return realloc(data, *capacity);
    *capacity = ap_page_round(*capacity);
    if (old_capacity >= AP_MAP_THRESHOLD) {
        grown = mremap(data, old_capacity, *capacity, MREMAP_MAYMOVE);
        if (grown == MAP_FAILED)
            return NULL;
    } else {
        grown = ap_cache_take(capacity);
        if (grown == NULL) {
            grown = mmap(NULL, *capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
            if (grown == MAP_FAILED)
                return NULL;
        }
        if (data != NULL) {
            memcpy(grown, data, size);
            free(data);
        }
    }
    ap_advise(grown, *capacity);
    return grown;
}

#else
static inline void *ap_grow(void *data, size_t size, size_t old_capacity, size_t *capacity) {
    (void)size;
    (void)old_capacity;
    return realloc(data, *capacity);
}

static inline void ap_release(void *data, size_t capacity) {
    (void)capacity;
    free(data);
}

static inline size_t ap_cache_size(void) { return 0; }

static inline size_t ap_cache_release(void) { return 0; }
#endif

#endif
