/* The large row buffers of a batch decode.
   On Linux they are mapped directly rather than taken from malloc: glibc raises its mmap
   threshold after each large free, so buffers of the next chunks would come from the heap and
   stay resident after their arrays are gone; a mapping is returned whole. Large mappings also
   ask for transparent huge pages, which cuts page faults 512-fold, as numpy does. */
#ifndef ALPHAPULSE_MEMORY_H
#define ALPHAPULSE_MEMORY_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#define AP_MAP_THRESHOLD ((size_t)1 << 20)
#define AP_HUGE_PAGE_THRESHOLD ((size_t)4 << 20)

static inline void *ap_map(size_t capacity) {
    void *data = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (capacity >= AP_HUGE_PAGE_THRESHOLD)
        madvise(data, capacity, MADV_HUGEPAGE);
#endif
    return data;
}

/* Room for `capacity` bytes holding the first `size` bytes of `data` (of `old_capacity`). */
static inline void *ap_grow(void *data, size_t size, size_t old_capacity, size_t capacity) {
    if (capacity < AP_MAP_THRESHOLD)
        return realloc(data, capacity);
    if (old_capacity >= AP_MAP_THRESHOLD) {
        void *moved = mremap(data, old_capacity, capacity, MREMAP_MAYMOVE);
#ifdef MADV_HUGEPAGE
        if (moved != MAP_FAILED)
            madvise(moved, capacity, MADV_HUGEPAGE);
#endif
        return moved == MAP_FAILED ? NULL : moved;
    }
    void *mapped = ap_map(capacity);
    if (mapped != NULL && data != NULL) {
        memcpy(mapped, data, size);
        free(data);
    }
    return mapped;
}

static inline void ap_release(void *data, size_t capacity) {
    if (data == NULL)
        return;
    if (capacity >= AP_MAP_THRESHOLD)
        munmap(data, capacity);
    else
        free(data);
}
#else
static inline void *ap_grow(void *data, size_t size, size_t old_capacity, size_t capacity) {
    (void)size;
    (void)old_capacity;
    return realloc(data, capacity);
}

static inline void ap_release(void *data, size_t capacity) {
    (void)capacity;
    free(data);
}
#endif

#endif
