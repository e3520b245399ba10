/* The large row buffers of a batch decode.
   On Linux they are mapped directly rather than taken from malloc: glibc raises its mmap
   threshold after each large free, so buffers of the next chunks would come from the heap and
   stay resident after their arrays are gone; a mapping is returned whole. Large mappings also
   ask for transparent huge pages, which cuts page faults 512-fold, as numpy does. Growth maps
   anew and copies rather than mremap, so that every mapping's size stays known to the cache. */
#ifndef ALPHAPULSE_MEMORY_H
#define ALPHAPULSE_MEMORY_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#define AP_MAP_THRESHOLD ((size_t)1 << 20)
#define AP_HUGE_PAGE_THRESHOLD ((size_t)4 << 20)

/* Mappings released by one decode are kept for the next (the chunks of one capture, the
   next capture): their pages are already there, so the kernel neither faults nor zeroes them
   again. A few, of bounded size; a spin lock guards them, as decoders run without the GIL. */
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

/* A mapping of at least *capacity bytes (not more than twice); *capacity is set to its size. */
static inline void *ap_map(size_t *capacity) {
    void *data = NULL;
    ap_cache_lock();
    for (int i = 0; i < AP_CACHE_SLOTS && data == NULL; i++) {
        if (ap_cache[i].data != NULL && ap_cache[i].capacity >= *capacity &&
            ap_cache[i].capacity <= 2 * *capacity) {
            data = ap_cache[i].data;
            *capacity = ap_cache[i].capacity;
            ap_cache[i].data = NULL;
            ap_cached -= *capacity;
        }
    }
    ap_cache_unlock();
    if (data != NULL)
        return data;
    data = mmap(NULL, *capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (*capacity >= AP_HUGE_PAGE_THRESHOLD)
        madvise(data, *capacity, MADV_HUGEPAGE);
#endif
    return data;
}

static inline void ap_release(void *data, size_t capacity) {
    if (data == NULL)
        return;
    if (capacity < AP_MAP_THRESHOLD) {
        free(data);
        return;
    }
    ap_cache_lock();
    for (int i = 0; i < AP_CACHE_SLOTS && ap_cached + capacity <= AP_CACHE_MAX; i++) {
        if (ap_cache[i].data == NULL) {
            ap_cache[i].data = data;
            ap_cache[i].capacity = capacity;
            ap_cached += capacity;
            data = NULL;
            break;
        }
    }
    ap_cache_unlock();
    if (data != NULL)
        munmap(data, capacity);
}

/* Room for *capacity bytes holding the first `size` bytes of `data` (of `old_capacity`);
   *capacity is set to the room given. */
static inline void *ap_grow(void *data, size_t size, size_t old_capacity, size_t *capacity) {
    if (*capacity < AP_MAP_THRESHOLD)
        return realloc(data, *capacity);
    void *mapped = ap_map(capacity);
    if (mapped != NULL && data != NULL) {
        memcpy(mapped, data, size);
        ap_release(data, old_capacity);
    }
    return mapped;
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
#endif

#endif
