/* CRC-32 with zlib's polynomial and conventions, at the speed of the CPU it runs on.

   Three paths give the same values:
   - x86-64 with PCLMULQDQ and SSE4.1: carry-less multiplication folds 16-byte lanes, four
     chains side by side on long input (with VPCLMULQDQ and AVX-512, 256 bytes per step into
     four 512-bit registers, and short frames four at a time, one per 128-bit lane);
   - ARMv8 with the CRC32 extension: the CRC32X instruction, 8 bytes per step;
   - everywhere: slicing-by-8 tables.
   The folding keeps the CRC's remainder: the last 0..15 bytes are folded in place with byte
   shuffles, and a Barrett reduction turns the final lane into the CRC. Frames are read where
   they are, the 4 checksum bytes skipped by blending overlapping loads: short frames are the
   common case, and copying them cost more than the arithmetic.
   Tables and constants are computed from the polynomial by ap_crc32_init(). */
#include "crc32.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define AP_X86 1
#include <immintrin.h>
#elif defined(__aarch64__)
#define AP_ARM 1
#include <arm_acle.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif
#endif

#define POLY_NORMAL 0x04C11DB7u   /* x^32 + x^26 + ... + 1, without the x^32 term */
#define POLY_REFLECTED 0xEDB88320u

/* table[k][b]: the CRC of byte b followed by k zero bytes, for slicing-by-8. */
static uint32_t table[8][256];

static uint32_t crc_table_raw(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc;
        crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
              table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
              table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

uint32_t ap_crc32_portable(uint32_t crc, const unsigned char *buf, size_t len) {
    return ~crc_table_raw(~crc, buf, len);
}

#ifdef AP_X86
static uint32_t reverse32(uint32_t v) {
    uint32_t r = 0;
    for (int i = 0; i < 32; i++)
        r |= ((v >> i) & 1u) << (31 - i);
    return r;
}

/* x^n mod P, bit-reflected: bit i holds the coefficient of x^(31-i). */
static uint32_t reflected_power(unsigned n) {
    uint32_t r = 1;
    while (n--)
        r = (r << 1) ^ ((r & 0x80000000u) ? POLY_NORMAL : 0);
    return reverse32(r);
}

/* Register conventions: a 64-bit operand holds a polynomial of degree < 64 with bit i the
   coefficient of x^(63-i), a 128-bit lane one of degree < 128 with bit i that of x^(127-i).
   The carry-less product of two operands, read as a lane, is their product times x.

   Folding constants: the low half of a lane is multiplied by x^(D+32) mod P, the high half
   by x^(D-32) mod P, each stored times x^31, which moves the lane forward by D bits modulo P
   and keeps the result within 128 bits. */
static uint64_t k128[2], k512[2], k2048[2];
/* reduce(): x^95 and x^63 mod P, each a 64-bit operand's top 32 bits, so that with the
   product's extra x each narrowing step multiplies by x^96 and x^64 and lands below the bits
   it replaces; then Barrett's floor(x^64 / P) and P's low 32 bits, both times x^31 so that
   the quotient and the remainder come out in whole 32-bit words. */
static uint64_t k_narrow[2], k_barrett[2];
static int use_fold, use_wide;   /* set by ap_crc32_init() from what the CPU has */

/* pshufb controls for the final partial lane of r bytes, read at offset r: bytes with the
   top bit set become zero, and flipping that bit turns a shift up by 16 - r bytes into a
   shift down by r bytes. */
static const unsigned char tail_shuffle[32] = {
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
};

#define X86_FOLD "pclmul,sse4.1"
#define X86_WIDE "avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.1"

__attribute__((target(X86_FOLD)))
static inline __m128i load16(const unsigned char *p) {
    return _mm_loadu_si128((const __m128i *)p);
}

__attribute__((target(X86_FOLD)))
static inline __m128i fold128(__m128i lane, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00),
                                       _mm_clmulepi64_si128(lane, k, 0x11)), next);
}

/* The lane followed by the r (1..15) message bytes that end `last`, the message's final 16
   bytes: the lane's first r bytes, moved to the top, are folded onto its other bytes followed
   by the r new ones. Nothing is read outside `last`, so no copy or padding is needed. */
__attribute__((target(X86_FOLD)))
static inline __m128i fold_tail(__m128i lane, __m128i last, size_t r) {
    __m128i up = load16(tail_shuffle + r);
    __m128i down = _mm_xor_si128(up, _mm_set1_epi8((char)0x80));
    __m128i head = _mm_shuffle_epi8(lane, up);
    __m128i rest = _mm_blendv_epi8(_mm_shuffle_epi8(lane, down), last, down);
    return fold128(head, _mm_loadu_si128((const __m128i *)k128), rest);
}

/* The CRC of a lane as a 16-byte message from a zero state: two folds narrow it to 96, then
   64 bits, and a Barrett reduction (two more products) leaves the 32-bit remainder. */
__attribute__((target(X86_FOLD)))
static inline uint32_t reduce(__m128i x) {
    __m128i kn = _mm_loadu_si128((const __m128i *)k_narrow);
    __m128i kb = _mm_loadu_si128((const __m128i *)k_barrett);
    __m128i s = _mm_xor_si128(_mm_clmulepi64_si128(x, kn, 0x00),
                              _mm_slli_si128(_mm_srli_si128(x, 8), 4));
    __m128i t = _mm_xor_si128(_mm_clmulepi64_si128(s, kn, 0x10), s);
    __m128i q = _mm_clmulepi64_si128(_mm_slli_epi64(t, 32), kb, 0x01);
    __m128i r = _mm_xor_si128(_mm_clmulepi64_si128(q, kb, 0x10), _mm_srli_si128(t, 4));
    return (uint32_t)_mm_extract_epi32(r, 2);
}

/* From these lengths on (measured), independent chains keep the multiplier busy where a single
   one waits on each product: 4 lanes at 512-bit distance, with VPCLMULQDQ 16 at 2048 bits. */
#define WIDE_MINIMUM 1024
#define LONG_MINIMUM 256

/* 256 bytes a step in four 512-bit registers, starting from lane x; moves *at on by a multiple
   of 256, leaving fewer than 256 bytes, and returns the lane that stands for all folded so
   far. */
__attribute__((target(X86_WIDE)))
static __m128i fold_wide(__m128i x, const unsigned char **at, size_t *left) {
    const unsigned char *p = *at;
    size_t n = *left;
    __m512i k = _mm512_broadcast_i32x4(load16((const unsigned char *)k2048));
    __m512i z[4];
    for (int i = 0; i < 4; i++)
        z[i] = _mm512_loadu_si512((const void *)(p + 64 * i));
    z[0] = _mm512_xor_si512(z[0], _mm512_zextsi128_si512(
        fold128(x, load16((const unsigned char *)k128), _mm_setzero_si128())));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        for (int i = 0; i < 4; i++) {
            __m512i next = _mm512_loadu_si512((const void *)(p + 64 * i));
            z[i] = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z[i], k, 0x00),
                                             _mm512_clmulepi64_epi128(z[i], k, 0x11), next, 0x96);
        }
    }
    /* Register i holds lanes 4i..4i+3: folding one register onto the next moves each of its
       lanes forward by four lanes, so three steps leave four lanes 128 bits apart. */
    k = _mm512_broadcast_i32x4(load16((const unsigned char *)k512));
    __m512i w = z[0];
    for (int i = 1; i < 4; i++)
        w = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(w, k, 0x00),
                                      _mm512_clmulepi64_epi128(w, k, 0x11), z[i], 0x96);
    __m128i k1 = load16((const unsigned char *)k128);
    x = _mm512_castsi512_si128(w);
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 1));
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 2));
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 3));
    *at = p;
    *left = n;
    return x;
}

/* The CRC state after lane x and then the message bytes p[0..n); reads p[n - 16..n) even
   when n < 16, which the callers guarantee to be readable. */
__attribute__((target(X86_FOLD)))
static inline uint32_t fold_short(__m128i x, const unsigned char *p, size_t n) {
    __m128i k = load16((const unsigned char *)k128);
    for (; n >= 16; p += 16, n -= 16)
        x = fold128(x, k, load16(p));
    if (n)
        x = fold_tail(x, load16(p + n - 16), n);
    return reduce(x);
}

/* Out of line, so that the short frames' path, inlined where frames are looped over, stays
   small. */
__attribute__((target(X86_FOLD), noinline))
static uint32_t fold_long(__m128i x, const unsigned char *p, size_t n) {
    if (use_wide && n >= WIDE_MINIMUM)
        x = fold_wide(x, &p, &n);
    if (n >= 64) {
        __m128i k = load16((const unsigned char *)k512);
        __m128i x0 = fold128(x, load16((const unsigned char *)k128), load16(p));
        __m128i x1 = load16(p + 16), x2 = load16(p + 32), x3 = load16(p + 48);
        for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
            x0 = fold128(x0, k, load16(p));
            x1 = fold128(x1, k, load16(p + 16));
            x2 = fold128(x2, k, load16(p + 32));
            x3 = fold128(x3, k, load16(p + 48));
        }
        k = load16((const unsigned char *)k128);
        x = fold128(fold128(fold128(x0, k, x1), k, x2), k, x3);
    }
    return fold_short(x, p, n);
}

__attribute__((target(X86_FOLD)))
static inline uint32_t fold_rest(__m128i x, const unsigned char *p, size_t n) {
    return n >= LONG_MINIMUM ? fold_long(x, p, n) : fold_short(x, p, n);
}

/* Message byte m is frame byte m below 28 and m + 4 from there on, so lane 0 is the frame's
   first 16 bytes, lane 1 bytes 16..27 and 32..35 (two overlapping loads, blended), and the
   rest is contiguous from byte 36. */
__attribute__((target(X86_FOLD)))
static inline uint32_t frame_fold(const unsigned char *frame, size_t size) {
    __m128i x = _mm_xor_si128(load16(frame), _mm_cvtsi32_si128(-1));
    if (size < AP_CHECKSUM_END + 4) {
        /* 12 to 15 bytes after lane 0, the last 0 to 3 of them past the checksum */
        __m128i last = _mm_blendv_epi8(load16(frame + size - 16), load16(frame + size - 20),
                                       load16(tail_shuffle + size - AP_CHECKSUM_END));
        return reduce(fold_tail(x, last, size - 20));
    }
    __m128i lane1 = _mm_blend_epi16(load16(frame + 16), load16(frame + 20), 0xC0);
    x = fold128(x, load16((const unsigned char *)k128), lane1);
    return fold_rest(x, frame + AP_CHECKSUM_END + 4, size - AP_CHECKSUM_END - 4);
}

/* One frame after the other: their chains are independent, so out-of-order execution already
   overlaps one frame's products with the next one's. */
__attribute__((target(X86_FOLD)))
static void frames_fold(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                        size_t count) {
    for (size_t i = 0; i < count; i++)
        crcs[i] = ~frame_fold(frames[i], sizes[i]);
}

/* Four frames side by side, one per 128-bit lane of each 512-bit register: one VPCLMULQDQ
   does the work of four PCLMULQDQ in about the same time, and the frames' chains hide each
   other's latency. Every step of frame_fold works lane by lane, so the four run the same code;
   a frame with fewer lanes than the others keeps its state while they fold on. */
#define GROUP_MAXIMUM 512   /* past this a frame would mostly fold alone while its group waits */

__attribute__((target(X86_WIDE)))
static inline __m512i load4(const unsigned char *a, const unsigned char *b,
                            const unsigned char *c, const unsigned char *d) {
    __m512i z = _mm512_castsi128_si512(load16(a));
    z = _mm512_inserti32x4(z, load16(b), 1);
    z = _mm512_inserti32x4(z, load16(c), 2);
    return _mm512_inserti32x4(z, load16(d), 3);
}

__attribute__((target(X86_WIDE)))
static inline __m512i fold512(__m512i lanes, __m512i k, __m512i next) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(lanes, k, 0x00),
                                     _mm512_clmulepi64_epi128(lanes, k, 0x11), next, 0x96);
}

/* The checksums of four frames, each AP_CHECKSUM_END + 4 to GROUP_MAXIMUM bytes. Written out
   frame by frame rather than over arrays: the caller has usually just stored the pointers and
   sizes one by one, and loading them back several at a time in a vector (which the compiler
   does to loops over them) waits for those stores to reach the cache. */
__attribute__((target(X86_WIDE)))
static inline __m128i frames4_wide(const unsigned char *const frames[4], const size_t sizes[4]) {
    const unsigned char *f0 = frames[0], *f1 = frames[1], *f2 = frames[2], *f3 = frames[3];
    size_t n0 = sizes[0] - AP_CHECKSUM_END - 4, n1 = sizes[1] - AP_CHECKSUM_END - 4,
           n2 = sizes[2] - AP_CHECKSUM_END - 4, n3 = sizes[3] - AP_CHECKSUM_END - 4;
    size_t lanes0 = n0 / 16, lanes1 = n1 / 16, lanes2 = n2 / 16, lanes3 = n3 / 16;
    size_t fewest = lanes0 < lanes1 ? lanes0 : lanes1, most = lanes0 ^ lanes1 ^ fewest;
    fewest = lanes2 < fewest ? lanes2 : fewest;
    fewest = lanes3 < fewest ? lanes3 : fewest;
    most = lanes2 > most ? lanes2 : most;
    most = lanes3 > most ? lanes3 : most;
    __m512i k = _mm512_broadcast_i32x4(load16((const unsigned char *)k128));
    __m512i x = _mm512_xor_si512(load4(f0, f1, f2, f3), _mm512_maskz_set1_epi32(0x1111, -1));
    x = fold512(x, k, _mm512_mask_blend_epi32(0x8888, load4(f0 + 16, f1 + 16, f2 + 16, f3 + 16),
                                              load4(f0 + 20, f1 + 20, f2 + 20, f3 + 20)));
    size_t at = AP_CHECKSUM_END + 4;
    for (size_t i = 0; i < fewest; i++, at += 16)
        x = fold512(x, k, load4(f0 + at, f1 + at, f2 + at, f3 + at));
    /* Branch-free, as mixed sizes would defeat the predictor: a finished frame keeps its
       state and reads its first bytes again, unused but inside the frame. */
    for (size_t i = fewest; i < most; i++, at += 16) {
        size_t live0 = (size_t)0 - (i < lanes0), live1 = (size_t)0 - (i < lanes1),
               live2 = (size_t)0 - (i < lanes2), live3 = (size_t)0 - (i < lanes3);
        __mmask8 on = (__mmask8)((live0 & 3) | (live1 & 0xC) | (live2 & 0x30) | (live3 & 0xC0));
        x = _mm512_mask_mov_epi64(x, on, fold512(x, k, load4(f0 + (at & live0), f1 + (at & live1),
                                                             f2 + (at & live2), f3 + (at & live3))));
    }
    /* fold_tail's steps, with each frame's own 0..15 tail bytes (0 leaves the lane as is) */
    __m512i up = load4(tail_shuffle + n0 % 16, tail_shuffle + n1 % 16, tail_shuffle + n2 % 16,
                       tail_shuffle + n3 % 16);
    __m512i last = load4(f0 + n0 + 20, f1 + n1 + 20, f2 + n2 + 20, f3 + n3 + 20);
    __m512i down = _mm512_xor_si512(up, _mm512_set1_epi8((char)0x80));
    __m512i rest = _mm512_mask_blend_epi8(_mm512_movepi8_mask(down),
                                          _mm512_shuffle_epi8(x, down), last);
    x = fold512(_mm512_shuffle_epi8(x, up), k, rest);
    /* reduce()'s steps */
    __m512i kn = _mm512_broadcast_i32x4(load16((const unsigned char *)k_narrow));
    __m512i kb = _mm512_broadcast_i32x4(load16((const unsigned char *)k_barrett));
    __m512i s = _mm512_xor_si512(_mm512_clmulepi64_epi128(x, kn, 0x00),
                                 _mm512_bslli_epi128(_mm512_bsrli_epi128(x, 8), 4));
    __m512i t = _mm512_xor_si512(_mm512_clmulepi64_epi128(s, kn, 0x10), s);
    __m512i m = _mm512_clmulepi64_epi128(_mm512_slli_epi64(t, 32), kb, 0x01);
    __m512i r = _mm512_xor_si512(_mm512_clmulepi64_epi128(m, kb, 0x10), _mm512_bsrli_epi128(t, 4));
    r = _mm512_permutexvar_epi32(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                  14, 10, 6, 2), r);
    return _mm_xor_si128(_mm512_castsi512_si128(r), _mm_set1_epi32(-1));
}

static inline int fits_group(size_t size) {
    return size >= AP_CHECKSUM_END + 4 && size <= GROUP_MAXIMUM;
}

/* Four frames in a row that fit a group go straight in, which is the common case; otherwise
   the ones that fit gather four at a time and the others take frame_fold. Three or two left
   over still share a group, padded with copies; a lone one is faster alone. frames4_wide has
   a single call site so that it is inlined: as a call it measured about 15% slower. */
__attribute__((target(X86_WIDE)))
static void frames_wide(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                        size_t count) {
    const unsigned char *gathered[4];
    size_t gathered_sizes[4], at[4];
    uint32_t out[4];
    size_t i = 0;
    while (i < count) {
        const unsigned char *const *group = frames + i;
        const size_t *group_sizes = sizes + i;
        size_t n = 0;
        if (i + 4 <= count && fits_group(sizes[i]) && fits_group(sizes[i + 1]) &&
            fits_group(sizes[i + 2]) && fits_group(sizes[i + 3])) {
            i += 4;
        } else {
            for (; i < count && n < 4; i++) {
                if (!fits_group(sizes[i])) {
                    crcs[i] = ~frame_fold(frames[i], sizes[i]);
                    continue;
                }
                gathered[n] = frames[i];
                gathered_sizes[n] = sizes[i];
                at[n++] = i;
            }
            if (n <= 1) {
                if (n == 1)
                    crcs[at[0]] = ~frame_fold(gathered[0], gathered_sizes[0]);
                continue;
            }
            for (size_t j = n; j < 4; j++) {
                gathered[j] = gathered[0];
                gathered_sizes[j] = gathered_sizes[0];
            }
            group = gathered;
            group_sizes = gathered_sizes;
        }
        __m128i four = frames4_wide(group, group_sizes);
        if (n == 0) {
            _mm_storeu_si128((__m128i *)(crcs + i - 4), four);
            continue;
        }
        _mm_storeu_si128((__m128i *)out, four);
        for (size_t j = 0; j < n; j++)
            crcs[at[j]] = out[j];
    }
}

__attribute__((target(X86_FOLD)))
static uint32_t crc_fold(uint32_t crc, const unsigned char *buf, size_t len) {
    return fold_rest(_mm_xor_si128(load16(buf), _mm_cvtsi32_si128((int)crc)), buf + 16, len - 16);
}

/* frame_fold compiled for PCLMULQDQ, for callers that are not. */
__attribute__((target(X86_FOLD)))
static uint32_t frame_fold_one(const unsigned char *frame, size_t size) {
    return frame_fold(frame, size);
}
#endif

#ifdef AP_ARM
__attribute__((target("+crc")))
static uint32_t crc_armv8_raw(uint32_t crc, const unsigned char *p, size_t n) {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32d(crc, v);
    }
    while (n--)
        crc = __crc32b(crc, *p++);
    return crc;
}
#endif

typedef uint32_t (*crc_raw_fn)(uint32_t, const unsigned char *, size_t);

static crc_raw_fn bulk = crc_table_raw;   /* for n >= bulk_minimum */
static size_t bulk_minimum = (size_t)-1;
static const char *implementation = "table";

void ap_crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++)
            c = (c >> 1) ^ ((c & 1u) ? POLY_REFLECTED : 0);
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
#ifdef AP_X86
    static const unsigned fold_bits[3] = {128, 512, 2048};
    uint64_t *fold_constants[3] = {k128, k512, k2048};
    for (int i = 0; i < 3; i++) {
        fold_constants[i][0] = (uint64_t)reflected_power(fold_bits[i] + 32) << 1;
        fold_constants[i][1] = (uint64_t)reflected_power(fold_bits[i] - 32) << 1;
    }
    k_narrow[0] = (uint64_t)reflected_power(95) << 32;
    k_narrow[1] = (uint64_t)reflected_power(63) << 32;
    /* floor(x^64 / P) by long division; P = x^32 + POLY_NORMAL, the quotient has 33 bits. */
    uint64_t quotient = 0;
    uint64_t window = (uint64_t)1 << 32;   /* the dividend's 33 bits at the quotient bit's place */
    for (int bit = 32; bit >= 0; bit--) {
        if (window >> 32) {
            quotient |= (uint64_t)1 << bit;
            window ^= ((uint64_t)1 << 32) | POLY_NORMAL;
        }
        window <<= 1;
    }
    k_barrett[0] = 0;
    for (int d = 0; d <= 32; d++)
        k_barrett[0] |= ((quotient >> d) & 1) << (32 - d);
    k_barrett[1] = (uint64_t)POLY_REFLECTED << 1;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        use_fold = 1;
        implementation = "pclmulqdq";
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("vpclmulqdq")) {
            use_wide = 1;
            implementation = "vpclmulqdq-avx512";
        }
    }
#elif defined(AP_ARM)
#if defined(__APPLE__)
    int has_crc = 1; /* every Apple ARM64 core has it */
#elif defined(__linux__)
    int has_crc = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#else
    int has_crc = 0;
#endif
    if (has_crc) {
        bulk = crc_armv8_raw;
        bulk_minimum = 8;
        implementation = "armv8-crc";
    }
#endif
}

static uint32_t crc_raw(uint32_t crc, const unsigned char *buf, size_t len) {
    return len >= bulk_minimum ? bulk(crc, buf, len) : crc_table_raw(crc, buf, len);
}

uint32_t ap_crc32(uint32_t crc, const unsigned char *buf, size_t len) {
#ifdef AP_X86
    if (use_fold && len >= 16)
        return ~crc_fold(~crc, buf, len);
#endif
    return ~crc_raw(~crc, buf, len);
}

uint32_t ap_crc32_frame(const unsigned char *frame, size_t size) {
#ifdef AP_X86
    if (use_fold)
        return ~frame_fold_one(frame, size);
#endif
    return ~crc_raw(crc_raw(0xFFFFFFFFu, frame, AP_CHECKSUM_OFFSET), frame + AP_CHECKSUM_END,
                    size - AP_CHECKSUM_END);
}

void ap_crc32_frames(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                     size_t count) {
#ifdef AP_X86
    if (use_wide) {
        frames_wide(frames, sizes, crcs, count);
        return;
    }
    if (use_fold) {
        frames_fold(frames, sizes, crcs, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++)
        crcs[i] = ap_crc32_frame(frames[i], sizes[i]);
}

const char *ap_crc32_impl(void) { return implementation; }
