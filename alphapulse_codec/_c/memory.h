/* Growth of the large row buffers of a batch decode.
   Fresh anonymous memory costs a page fault per 4 KiB page; asking for transparent huge pages
   on large buffers cuts those faults 512-fold, as numpy does for its own large arrays. */
#ifndef ALPHAPULSE_MEMORY_H
#define ALPHAPULSE_MEMORY_H

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define AP_HUGE_PAGE_THRESHOLD ((size_t)4 << 20)

static inline void *ap_grow(void *data, size_t capacity) {
    void *grown = realloc(data, capacity);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (grown != NULL && capacity >= AP_HUGE_PAGE_THRESHOLD) {
        uintptr_t start = ((uintptr_t)grown + 4095) & ~(uintptr_t)4095;
        uintptr_t end = ((uintptr_t)grown + capacity) & ~(uintptr_t)4095;
        if (end > start)
            madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    return grown;
}

#endif
