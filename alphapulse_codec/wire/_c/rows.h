/* The batch decode's work on a run of frames of one kind back to back: finding how long the
   run is, copying its rows into the row buffers, and writing its rows' offsets.
   A large decode writes rows that no cache holds once it is done, so there the stores are
   non-temporal: they skip reading each output line into the cache before writing it, which
   costs as much memory traffic as the write itself. SSE2, which every x86-64 has; elsewhere
   plain stores. */
#ifndef ALPHAPULSE_ROWS_H
#define ALPHAPULSE_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#define AP_STREAM_STORES 1
#endif

/* How far ahead of the frame it copies ap_copy_same_kind asks for the input: the hardware
   prefetcher alone left its loads waiting (0.83x-0.87x of memcpy in C, 0.93x-1.07x with
   this, on the 2 vCPU Zen 3 machine). A prefetch never faults, past the input's end too. */
#define AP_PREFETCH_AHEAD 2048

/* Bytes of the header that decide every check of a fixed-size frame but its checksum: magic,
   message type and version (bytes 0-5), payload size (8-11). */
#define AP_KIND_MASK 0x0000FFFFFFFFFFFFull

/* How many of the `count` frames of `size` bytes from `run` on have the header kind (magic,
   type, version, payload size) of the first; count is at least 1. */
static inline size_t ap_same_kind(const unsigned char *run, size_t size, size_t count) {
    uint64_t first, word;
    uint32_t payload, other;
    memcpy(&first, run, 8);
    memcpy(&payload, run + 8, 4);
    first &= AP_KIND_MASK;
    for (size_t i = 1; i < count; i++) {
        const unsigned char *frame = run + i * size;
        memcpy(&word, frame, 8);
        memcpy(&other, frame + 8, 4);
        if (((word & AP_KIND_MASK) ^ first) | (uint64_t)(other ^ payload))
            return i;
    }
    return count;
}

/* Whether frame `i` of those of `size` bytes from `run` on has the header kind of the first. */
static inline int ap_kind_matches(const unsigned char *run, size_t size, size_t i) {
    uint64_t first, word;
    uint32_t payload, other;
    memcpy(&first, run, 8);
    memcpy(&payload, run + 8, 4);
    memcpy(&word, run + i * size, 8);
    memcpy(&other, run + i * size + 8, 4);
    return ((first ^ word) & AP_KIND_MASK) == 0 && payload == other;
}

/* memcpy, with non-temporal stores when `stream`; the caller fences (ap_stream_fence) before
   another thread may read what it wrote. */
static inline void ap_copy_rows(unsigned char *out, const unsigned char *in, size_t n,
                                int stream) {
#ifdef AP_STREAM_STORES
    if (stream && n >= 64) {
        size_t head = (16 - ((uintptr_t)out & 15)) & 15;
        memcpy(out, in, head);
        out += head;
        in += head;
        n -= head;
        for (; n >= 64; n -= 64, out += 64, in += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)in);
            __m128i b = _mm_loadu_si128((const __m128i *)(in + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(in + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(in + 48));
            _mm_stream_si128((__m128i *)out, a);
            _mm_stream_si128((__m128i *)(out + 16), b);
            _mm_stream_si128((__m128i *)(out + 32), c);
            _mm_stream_si128((__m128i *)(out + 48), d);
        }
        for (; n >= 16; n -= 16, out += 16, in += 16)
            _mm_stream_si128((__m128i *)out, _mm_loadu_si128((const __m128i *)in));
    }
#else
    (void)stream;
#endif
    memcpy(out, in, n);
}

/* Copy the frames of `size` bytes from `run` on, up to `count` (at least 1), while they have
   the header kind of the first (ap_same_kind); returns how many were copied. With `stream`,
   where frames are whole 16-byte units and `out` is aligned to them, in one pass: each frame
   is loaded once, its kind compared in the register that holds its first 16 bytes and its
   bytes stored non-temporally from the registers, which touches the bytes a copy touches and
   no more. Otherwise the kinds first, then ap_copy_rows. */
static inline size_t ap_copy_same_kind(unsigned char *out, const unsigned char *run, size_t size,
                                       size_t count, int stream) {
#ifdef AP_STREAM_STORES
    if (stream && size % 16 == 0 && ((uintptr_t)out & 15) == 0) {
        const __m128i kind_bytes = _mm_set_epi32(0, -1, 0xFFFF, -1);
        const __m128i kind = _mm_and_si128(_mm_loadu_si128((const __m128i *)run), kind_bytes);
        size_t i = 0;
        for (; i < count; i++) {
            const unsigned char *in = run + i * size;
            unsigned char *row = out + i * size;
            _mm_prefetch((const char *)in + AP_PREFETCH_AHEAD, _MM_HINT_T0);
            __m128i head = _mm_loadu_si128((const __m128i *)in);
            if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(head, kind_bytes), kind)) != 0xFFFF)
                break;
            _mm_stream_si128((__m128i *)row, head);
            for (size_t at = 16; at < size; at += 16)
                _mm_stream_si128((__m128i *)(row + at),
                                 _mm_loadu_si128((const __m128i *)(in + at)));
        }
        return i;
    }
#endif
    count = ap_same_kind(run, size, count);
    ap_copy_rows(out, run, count * size, stream);
    return count;
}

/* out[i] = first + i * step for i < n: the offsets of a run's rows, written when first read,
   so by cached stores. */
static inline void ap_fill_offsets(int64_t *out, int64_t first, int64_t step, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = first + (int64_t)i * step;
}

/* Make the non-temporal stores made so far visible before those that follow. */
static inline void ap_stream_fence(void) {
#ifdef AP_STREAM_STORES
    _mm_sfence();
#endif
}

#endif
