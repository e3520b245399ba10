/* CRC-32 with zlib's polynomial and conventions, at the speed of the CPU it runs on.

   Five paths give the same values; ap_crc32_init() takes the fastest one the CPU has, and
   ap_crc32_use() any other one it has:
   - vpclmul512 (x86-64, VPCLMULQDQ and AVX-512): 256 bytes a step in four 512-bit registers,
     and in the batch checksum four frames at a time, one per 128-bit lane of a register;
   - vpclmul256 (x86-64, VPCLMULQDQ and AVX2): 256 bytes a step in eight 256-bit registers,
     and four frames at a time in two registers, two per register;
   - pclmul (x86-64, PCLMULQDQ and SSE4.1): four 128-bit chains, 64 bytes a step, so that the
     multiplier never waits on the product before;
   - armv8 (ARMv8 with the CRC32 instructions): three CRC32X chains over three blocks, merged
     at the end of each round by a table; from FOLD_MINIMUM bytes on, where the CPU has
     PMULL, four 128-bit chains folded with it; four frames at a time in the batch checksum;
   - table: slicing-by-8, everywhere.
   Built with AP_CRC32_NO_PMULL, armv8 leaves PMULL out, as on cores without it: `make
   check-arm` checks both builds under QEMU, whose CPU has PMULL.
   The x86 paths fold 16-byte lanes by carry-less multiplication and keep the CRC's
   remainder: the last 0..15 bytes are folded in place with byte shuffles, and a Barrett
   reduction turns the final lane into the CRC. Frames are read where they are, the 4
   checksum bytes skipped by blending overlapping loads: short frames are the common case, and
   copying them cost more than the arithmetic.
   Tables and constants are computed from the polynomial by ap_crc32_init(). */
#include "crc32.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define AP_X86 1
#include <immintrin.h>
#elif defined(__aarch64__)
#define AP_ARM 1
#include <arm_acle.h>
#ifndef AP_CRC32_NO_PMULL
#include <arm_neon.h>
#endif
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_PMULL
#define HWCAP_PMULL (1 << 4)
#endif
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

/* The checksum field of a frame, as MessageHeader_t reads it. */
static inline uint32_t stored_checksum(const unsigned char *frame) {
    uint32_t stored;
    memcpy(&stored, frame + AP_CHECKSUM_OFFSET, 4);
    return stored;
}

static uint32_t frame_table(const unsigned char *frame, size_t size) {
    return ~crc_table_raw(crc_table_raw(0xFFFFFFFFu, frame, AP_CHECKSUM_OFFSET),
                          frame + AP_CHECKSUM_END, size - AP_CHECKSUM_END);
}

static void frames_table(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                         size_t count) {
    for (size_t i = 0; i < count; i++)
        crcs[i] = frame_table(frames[i], sizes[i]);
}

#if defined(AP_X86) || (defined(AP_ARM) && !defined(AP_CRC32_NO_PMULL))
#define AP_FOLDING 1
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

/* Register conventions (the same for PCLMULQDQ and PMULL): a 64-bit operand holds a
   polynomial of degree < 64 with bit i the coefficient of x^(63-i), a 128-bit lane one of
   degree < 128 with bit i that of x^(127-i). The carry-less product of two operands, read as
   a lane, is their product times x.

   Folding constants, one pair per fold distance of D bits (k128 moves a lane onto the next
   one, k2048 by 256 bytes): the low half of a lane is multiplied by x^(D+32) mod P, the high
   half by x^(D-32) mod P, each stored times x^31, which moves the lane forward by D bits
   modulo P and keeps the result within 128 bits. */
static uint64_t k128[2], k256[2], k512[2], k1024[2], k2048[2];

static void fold_constants(void) {
    static const unsigned distances[5] = {128, 256, 512, 1024, 2048};
    uint64_t *constants[5] = {k128, k256, k512, k1024, k2048};
    for (int i = 0; i < 5; i++) {
        constants[i][0] = (uint64_t)reflected_power(distances[i] + 32) << 1;
        constants[i][1] = (uint64_t)reflected_power(distances[i] - 32) << 1;
    }
}
#endif

#ifdef AP_X86
/* reduce(): x^95 and x^63 mod P, each a 64-bit operand's top 32 bits, so that with the
   product's extra x each narrowing step multiplies by x^96 and x^64 and lands below the bits
   it replaces; then Barrett's floor(x^64 / P) and P's low 32 bits, both times x^31 so that
   the quotient and the remainder come out in whole 32-bit words. */
static uint64_t k_narrow[2], k_barrett[2];

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
#define X86_YMM "avx2,vpclmulqdq,pclmul,sse4.1"
#define X86_ZMM "avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.1"

__attribute__((target(X86_FOLD)))
static inline __m128i load16(const void *p) {
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
    return fold128(head, load16(k128), rest);
}

/* The CRC of a lane as a 16-byte message from a zero state: two folds narrow it to 96, then
   64 bits, and a Barrett reduction (two more products) leaves the 32-bit remainder. */
__attribute__((target(X86_FOLD)))
static inline uint32_t reduce(__m128i x) {
    __m128i kn = load16(k_narrow);
    __m128i kb = load16(k_barrett);
    __m128i s = _mm_xor_si128(_mm_clmulepi64_si128(x, kn, 0x00),
                              _mm_slli_si128(_mm_srli_si128(x, 8), 4));
    __m128i t = _mm_xor_si128(_mm_clmulepi64_si128(s, kn, 0x10), s);
    __m128i q = _mm_clmulepi64_si128(_mm_slli_epi64(t, 32), kb, 0x01);
    __m128i r = _mm_xor_si128(_mm_clmulepi64_si128(q, kb, 0x10), _mm_srli_si128(t, 4));
    return (uint32_t)_mm_extract_epi32(r, 2);
}

/* From these lengths on (measured), independent chains keep the multiplier busy where a single
   one waits on each product: 4 lanes at 512-bit distance, with VPCLMULQDQ 16 at 2048 bits,
   whose final folds pay for themselves sooner in 256-bit registers than in 512-bit ones. */
#define LONG_MINIMUM 256
#define ZMM_MINIMUM 1024
#define YMM_MINIMUM 512

/* The CRC state after lane x and then the message bytes p[0..n); reads p[n - 16..n) even
   when n < 16, which the callers guarantee to be readable. */
__attribute__((target(X86_FOLD)))
static inline uint32_t fold_short(__m128i x, const unsigned char *p, size_t n) {
    __m128i k = load16(k128);
    for (; n >= 16; p += 16, n -= 16)
        x = fold128(x, k, load16(p));
    if (n)
        x = fold_tail(x, load16(p + n - 16), n);
    return reduce(x);
}

/* 64 bytes a step in four chains, from lane x and *left >= 64 bytes at *at; moves *at on by a
   multiple of 64, leaving fewer than 64 bytes, and returns the lane that stands for all folded
   so far. */
__attribute__((target(X86_FOLD)))
static inline __m128i fold_chains(__m128i x, const unsigned char **at, size_t *left) {
    const unsigned char *p = *at;
    size_t n = *left;
    __m128i k = load16(k512);
    __m128i x0 = fold128(x, load16(k128), load16(p));
    __m128i x1 = load16(p + 16), x2 = load16(p + 32), x3 = load16(p + 48);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = fold128(x0, k, load16(p));
        x1 = fold128(x1, k, load16(p + 16));
        x2 = fold128(x2, k, load16(p + 32));
        x3 = fold128(x3, k, load16(p + 48));
    }
    k = load16(k128);
    *at = p;
    *left = n;
    return fold128(fold128(fold128(x0, k, x1), k, x2), k, x3);
}

__attribute__((target(X86_YMM)))
static inline __m256i fold256(__m256i lanes, __m256i k, __m256i next) {
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(lanes, k, 0x00),
                                             _mm256_clmulepi64_epi128(lanes, k, 0x11)), next);
}

__attribute__((target(X86_YMM)))
static inline __m256i load32(const unsigned char *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

__attribute__((target(X86_YMM)))
static inline __m256i broadcast256(const uint64_t k[2]) {
    return _mm256_broadcastsi128_si256(load16(k));
}

/* fold_chains with 256 bytes a step in eight 256-bit registers, from *left >= 256 bytes. The
   sixteen chains are more than the multiplier's latency needs: they halve the loop's own
   instructions per byte. */
__attribute__((target(X86_YMM)))
static __m128i fold_ymm(__m128i x, const unsigned char **at, size_t *left) {
    const unsigned char *p = *at;
    size_t n = *left;
    __m256i k = broadcast256(k2048);
    __m256i y[8];
    for (int i = 0; i < 8; i++)
        y[i] = load32(p + 32 * i);
    y[0] = _mm256_xor_si256(y[0], _mm256_zextsi128_si256(
        fold128(x, load16(k128), _mm_setzero_si128())));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256)
        for (int i = 0; i < 8; i++)
            y[i] = fold256(y[i], k, load32(p + 32 * i));
    /* Register i holds lanes 2i and 2i+1: halving the registers three times, each time
       folding one onto the one as far ahead as half of them, keeps the chains apart until
       the last steps. */
    k = broadcast256(k1024);
    for (int i = 0; i < 4; i++)
        y[i + 4] = fold256(y[i], k, y[i + 4]);
    k = broadcast256(k512);
    for (int i = 4; i < 6; i++)
        y[i + 2] = fold256(y[i], k, y[i + 2]);
    y[7] = fold256(y[6], broadcast256(k256), y[7]);
    *at = p;
    *left = n;
    return fold128(_mm256_castsi256_si128(y[7]), load16(k128), _mm256_extracti128_si256(y[7], 1));
}

/* fold_chains with 256 bytes a step in four 512-bit registers, from *left >= 256 bytes. */
__attribute__((target(X86_ZMM)))
static __m128i fold_zmm(__m128i x, const unsigned char **at, size_t *left) {
    const unsigned char *p = *at;
    size_t n = *left;
    __m512i k = _mm512_broadcast_i32x4(load16(k2048));
    __m512i z[4];
    for (int i = 0; i < 4; i++)
        z[i] = _mm512_loadu_si512((const void *)(p + 64 * i));
    z[0] = _mm512_xor_si512(z[0], _mm512_zextsi128_si512(
        fold128(x, load16(k128), _mm_setzero_si128())));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        for (int i = 0; i < 4; i++) {
            __m512i next = _mm512_loadu_si512((const void *)(p + 64 * i));
            z[i] = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z[i], k, 0x00),
                                             _mm512_clmulepi64_epi128(z[i], k, 0x11), next, 0x96);
        }
    }
    /* Register i holds lanes 4i..4i+3: folding one register onto the next moves each of its
       lanes forward by four lanes, so three steps leave four lanes 128 bits apart. */
    k = _mm512_broadcast_i32x4(load16(k512));
    __m512i w = z[0];
    for (int i = 1; i < 4; i++)
        w = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(w, k, 0x00),
                                      _mm512_clmulepi64_epi128(w, k, 0x11), z[i], 0x96);
    __m128i k1 = load16(k128);
    x = _mm512_castsi512_si128(w);
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 1));
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 2));
    x = fold128(x, k1, _mm512_extracti32x4_epi32(w, 3));
    *at = p;
    *left = n;
    return x;
}

/* Each path's long input, n >= LONG_MINIMUM: out of line, so that the short frames' path,
   inlined where frames are looped over, stays small. */
typedef uint32_t (*fold_long_fn)(__m128i x, const unsigned char *p, size_t n);

__attribute__((target(X86_FOLD), noinline))
static uint32_t long_pclmul(__m128i x, const unsigned char *p, size_t n) {
    x = fold_chains(x, &p, &n);
    return fold_short(x, p, n);
}

__attribute__((target(X86_YMM), noinline))
static uint32_t long_vpclmul256(__m128i x, const unsigned char *p, size_t n) {
    if (n >= YMM_MINIMUM)
        x = fold_ymm(x, &p, &n);
    if (n >= 64)
        x = fold_chains(x, &p, &n);
    return fold_short(x, p, n);
}

__attribute__((target(X86_ZMM), noinline))
static uint32_t long_vpclmul512(__m128i x, const unsigned char *p, size_t n) {
    if (n >= ZMM_MINIMUM)
        x = fold_zmm(x, &p, &n);
    if (n >= 64)
        x = fold_chains(x, &p, &n);
    return fold_short(x, p, n);
}

/* The shared steps, inlined into each path's functions with its long-input function. */
__attribute__((target(X86_FOLD), always_inline))
static inline uint32_t fold_rest(__m128i x, const unsigned char *p, size_t n, fold_long_fn longer) {
    return n >= LONG_MINIMUM ? longer(x, p, n) : fold_short(x, p, n);
}

__attribute__((target(X86_FOLD), always_inline))
static inline uint32_t crc_fold(uint32_t crc, const unsigned char *buf, size_t len,
                                fold_long_fn longer) {
    if (len < 16)
        return ~crc_table_raw(~crc, buf, len);
    return ~fold_rest(_mm_xor_si128(load16(buf), _mm_cvtsi32_si128((int)~crc)), buf + 16,
                      len - 16, longer);
}

/* Message byte m is frame byte m below 28 and m + 4 from there on, so lane 0 is the frame's
   first 16 bytes, lane 1 bytes 16..27 and 32..35 (two overlapping loads, blended), and the
   rest is contiguous from byte 36. */
__attribute__((target(X86_FOLD), always_inline))
static inline uint32_t frame_fold(const unsigned char *frame, size_t size, fold_long_fn longer) {
    __m128i x = _mm_xor_si128(load16(frame), _mm_cvtsi32_si128(-1));
    if (size < AP_CHECKSUM_END + 4) {
        /* 12 to 15 bytes after lane 0, the last 0 to 3 of them past the checksum */
        __m128i last = _mm_blendv_epi8(load16(frame + size - 16), load16(frame + size - 20),
                                       load16(tail_shuffle + size - AP_CHECKSUM_END));
        return ~reduce(fold_tail(x, last, size - 20));
    }
    __m128i lane1 = _mm_blend_epi16(load16(frame + 16), load16(frame + 20), 0xC0);
    x = fold128(x, load16(k128), lane1);
    return ~fold_rest(x, frame + AP_CHECKSUM_END + 4, size - AP_CHECKSUM_END - 4, longer);
}

/* Four frames side by side, one per 128-bit lane: one VPCLMULQDQ does the work of two or four
   PCLMULQDQ in about the same time, and the frames' chains hide each other's latency. Every
   step of frame_fold works lane by lane, so the four run the same code; a frame with fewer
   lanes than the others keeps its state while they fold on. Inlined at each call site (the
   batch checksum's and the run check's): as a call it measured about 15% slower. */
#define GROUP_MAXIMUM 512   /* past this a frame would mostly fold alone while its group waits */

/* The checksums of four frames, each AP_CHECKSUM_END + 4 to GROUP_MAXIMUM bytes. Written out
   frame by frame rather than over arrays: the caller has usually just stored the pointers and
   sizes one by one, and loading them back several at a time in a vector (which the compiler
   does to loops over them) waits for those stores to reach the cache. */
typedef __m128i (*group_fn)(const unsigned char *const frames[4], const size_t sizes[4]);

__attribute__((target(X86_ZMM)))
static inline __m512i load4(const unsigned char *a, const unsigned char *b,
                            const unsigned char *c, const unsigned char *d) {
    __m512i z = _mm512_castsi128_si512(load16(a));
    z = _mm512_inserti32x4(z, load16(b), 1);
    z = _mm512_inserti32x4(z, load16(c), 2);
    return _mm512_inserti32x4(z, load16(d), 3);
}

__attribute__((target(X86_ZMM)))
static inline __m512i fold512(__m512i lanes, __m512i k, __m512i next) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(lanes, k, 0x00),
                                     _mm512_clmulepi64_epi128(lanes, k, 0x11), next, 0x96);
}

__attribute__((target(X86_ZMM), always_inline))
static inline __m128i frames4_zmm(const unsigned char *const frames[4], const size_t sizes[4]) {
    const unsigned char *f0 = frames[0], *f1 = frames[1], *f2 = frames[2], *f3 = frames[3];
    size_t n0 = sizes[0] - AP_CHECKSUM_END - 4, n1 = sizes[1] - AP_CHECKSUM_END - 4,
           n2 = sizes[2] - AP_CHECKSUM_END - 4, n3 = sizes[3] - AP_CHECKSUM_END - 4;
    size_t lanes0 = n0 / 16, lanes1 = n1 / 16, lanes2 = n2 / 16, lanes3 = n3 / 16;
    size_t fewest = lanes0 < lanes1 ? lanes0 : lanes1, most = lanes0 ^ lanes1 ^ fewest;
    fewest = lanes2 < fewest ? lanes2 : fewest;
    fewest = lanes3 < fewest ? lanes3 : fewest;
    most = lanes2 > most ? lanes2 : most;
    most = lanes3 > most ? lanes3 : most;
    __m512i k = _mm512_broadcast_i32x4(load16(k128));
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
    __m512i kn = _mm512_broadcast_i32x4(load16(k_narrow));
    __m512i kb = _mm512_broadcast_i32x4(load16(k_barrett));
    __m512i s = _mm512_xor_si512(_mm512_clmulepi64_epi128(x, kn, 0x00),
                                 _mm512_bslli_epi128(_mm512_bsrli_epi128(x, 8), 4));
    __m512i t = _mm512_xor_si512(_mm512_clmulepi64_epi128(s, kn, 0x10), s);
    __m512i m = _mm512_clmulepi64_epi128(_mm512_slli_epi64(t, 32), kb, 0x01);
    __m512i r = _mm512_xor_si512(_mm512_clmulepi64_epi128(m, kb, 0x10), _mm512_bsrli_epi128(t, 4));
    r = _mm512_permutexvar_epi32(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                  14, 10, 6, 2), r);
    return _mm_xor_si128(_mm512_castsi512_si128(r), _mm_set1_epi32(-1));
}

__attribute__((target(X86_YMM)))
static inline __m256i load2(const unsigned char *a, const unsigned char *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(load16(a)), load16(b), 1);
}

/* fold_tail's steps on two lanes, each with its own up control (0 tail bytes leave a lane as
   is), then reduce()'s: the two CRCs come out in 32-bit words 2 and 6. */
__attribute__((target(X86_YMM)))
static inline __m256i finish2(__m256i x, __m256i k, __m256i up, __m256i last) {
    __m256i down = _mm256_xor_si256(up, _mm256_set1_epi8((char)0x80));
    __m256i rest = _mm256_blendv_epi8(_mm256_shuffle_epi8(x, down), last, down);
    x = fold256(_mm256_shuffle_epi8(x, up), k, rest);
    __m256i kn = broadcast256(k_narrow);
    __m256i kb = broadcast256(k_barrett);
    __m256i s = _mm256_xor_si256(_mm256_clmulepi64_epi128(x, kn, 0x00),
                                 _mm256_bslli_epi128(_mm256_bsrli_epi128(x, 8), 4));
    __m256i t = _mm256_xor_si256(_mm256_clmulepi64_epi128(s, kn, 0x10), s);
    __m256i m = _mm256_clmulepi64_epi128(_mm256_slli_epi64(t, 32), kb, 0x01);
    return _mm256_xor_si256(_mm256_clmulepi64_epi128(m, kb, 0x10), _mm256_bsrli_epi128(t, 4));
}

/* frames4_zmm in two 256-bit registers, frames 0 and 1 in one and 2 and 3 in the other: two
   independent chains where AVX-512 has one, which the multiplier's latency wants without
   the masked moves. */
__attribute__((target(X86_YMM), always_inline))
static inline __m128i frames4_ymm(const unsigned char *const frames[4], const size_t sizes[4]) {
    const unsigned char *f0 = frames[0], *f1 = frames[1], *f2 = frames[2], *f3 = frames[3];
    size_t n0 = sizes[0] - AP_CHECKSUM_END - 4, n1 = sizes[1] - AP_CHECKSUM_END - 4,
           n2 = sizes[2] - AP_CHECKSUM_END - 4, n3 = sizes[3] - AP_CHECKSUM_END - 4;
    size_t lanes0 = n0 / 16, lanes1 = n1 / 16, lanes2 = n2 / 16, lanes3 = n3 / 16;
    size_t fewest = lanes0 < lanes1 ? lanes0 : lanes1, most = lanes0 ^ lanes1 ^ fewest;
    fewest = lanes2 < fewest ? lanes2 : fewest;
    fewest = lanes3 < fewest ? lanes3 : fewest;
    most = lanes2 > most ? lanes2 : most;
    most = lanes3 > most ? lanes3 : most;
    __m256i k = broadcast256(k128);
    __m256i start = _mm256_setr_epi32(-1, 0, 0, 0, -1, 0, 0, 0);
    __m256i a = _mm256_xor_si256(load2(f0, f1), start);
    __m256i b = _mm256_xor_si256(load2(f2, f3), start);
    a = fold256(a, k, _mm256_blend_epi32(load2(f0 + 16, f1 + 16), load2(f0 + 20, f1 + 20), 0x88));
    b = fold256(b, k, _mm256_blend_epi32(load2(f2 + 16, f3 + 16), load2(f2 + 20, f3 + 20), 0x88));
    size_t at = AP_CHECKSUM_END + 4;
    for (size_t i = 0; i < fewest; i++, at += 16) {
        a = fold256(a, k, load2(f0 + at, f1 + at));
        b = fold256(b, k, load2(f2 + at, f3 + at));
    }
    /* As in frames4_zmm, branch-free; a 64-bit compare per lane stands for the mask. */
    __m256i lanes_a = _mm256_setr_epi64x((long long)lanes0, (long long)lanes0, (long long)lanes1,
                                         (long long)lanes1);
    __m256i lanes_b = _mm256_setr_epi64x((long long)lanes2, (long long)lanes2, (long long)lanes3,
                                         (long long)lanes3);
    for (size_t i = fewest; i < most; i++, at += 16) {
        size_t live0 = (size_t)0 - (i < lanes0), live1 = (size_t)0 - (i < lanes1),
               live2 = (size_t)0 - (i < lanes2), live3 = (size_t)0 - (i < lanes3);
        __m256i step = _mm256_set1_epi64x((long long)i);
        a = _mm256_blendv_epi8(a, fold256(a, k, load2(f0 + (at & live0), f1 + (at & live1))),
                               _mm256_cmpgt_epi64(lanes_a, step));
        b = _mm256_blendv_epi8(b, fold256(b, k, load2(f2 + (at & live2), f3 + (at & live3))),
                               _mm256_cmpgt_epi64(lanes_b, step));
    }
    a = finish2(a, k, load2(tail_shuffle + n0 % 16, tail_shuffle + n1 % 16),
                load2(f0 + n0 + 20, f1 + n1 + 20));
    b = finish2(b, k, load2(tail_shuffle + n2 % 16, tail_shuffle + n3 % 16),
                load2(f2 + n2 + 20, f3 + n3 + 20));
    /* words 2 and 6 of a, then of b (moved to words 3 and 7) */
    __m256i both = _mm256_blend_epi32(a, _mm256_slli_epi64(b, 32), 0x88);
    both = _mm256_permutevar8x32_epi32(both, _mm256_setr_epi32(2, 6, 3, 7, 0, 0, 0, 0));
    return _mm_xor_si128(_mm256_castsi256_si128(both), _mm_set1_epi32(-1));
}

static inline int fits_group(size_t size) {
    return size >= AP_CHECKSUM_END + 4 && size <= GROUP_MAXIMUM;
}

/* Four frames in a row that fit a group go straight in, which is the common case; otherwise
   the ones that fit gather four at a time and the others take frame_fold. Three or two left
   over still share a group, padded with copies; a lone one is faster alone. Inlined into each
   path's function with its group function, which has this single call site so that it is
   inlined too: as a call it measured about 15% slower. */
__attribute__((target(X86_FOLD), always_inline))
static inline void frames_grouped(const unsigned char *const *frames, const size_t *sizes,
                                  uint32_t *crcs, size_t count, group_fn group4,
                                  fold_long_fn longer) {
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
                    crcs[i] = frame_fold(frames[i], sizes[i], longer);
                    continue;
                }
                gathered[n] = frames[i];
                gathered_sizes[n] = sizes[i];
                at[n++] = i;
            }
            if (n <= 1) {
                if (n == 1)
                    crcs[at[0]] = frame_fold(gathered[0], gathered_sizes[0], longer);
                continue;
            }
            for (size_t j = n; j < 4; j++) {
                gathered[j] = gathered[0];
                gathered_sizes[j] = gathered_sizes[0];
            }
            group = gathered;
            group_sizes = gathered_sizes;
        }
        __m128i four = group4(group, group_sizes);
        if (n == 0) {
            _mm_storeu_si128((__m128i *)(crcs + i - 4), four);
            continue;
        }
        _mm_storeu_si128((__m128i *)out, four);
        for (size_t j = 0; j < n; j++)
            crcs[at[j]] = out[j];
    }
}

/* ap_crc32_run's work on a grouped path: frames of one size back to back go four at a time
   straight into the group function, their addresses computed rather than stored and loaded
   back, and the four checksums compared with the stored ones in one vector compare. */
__attribute__((target(X86_FOLD), always_inline))
static inline size_t run_grouped(const unsigned char *run, size_t size, size_t count,
                                 group_fn group4, fold_long_fn longer) {
    size_t i = 0;
    if (fits_group(size)) {
        const size_t sizes[4] = {size, size, size, size};
        for (; i + 4 <= count; i += 4) {
            const unsigned char *p = run + i * size;
            const unsigned char *const four[4] = {p, p + size, p + 2 * size, p + 3 * size};
            __m128i stored = _mm_setr_epi32((int)stored_checksum(four[0]),
                                            (int)stored_checksum(four[1]),
                                            (int)stored_checksum(four[2]),
                                            (int)stored_checksum(four[3]));
            int same = _mm_movemask_ps(_mm_castsi128_ps(
                _mm_cmpeq_epi32(group4(four, sizes), stored)));
            if (same != 0xF)
                return i + (size_t)__builtin_ctz(~same);
        }
    }
    for (; i < count; i++)
        if (frame_fold(run + i * size, size, longer) != stored_checksum(run + i * size))
            return i;
    return count;
}

__attribute__((target(X86_FOLD)))
static uint32_t crc_pclmul(uint32_t crc, const unsigned char *buf, size_t len) {
    return crc_fold(crc, buf, len, long_pclmul);
}

__attribute__((target(X86_FOLD)))
static uint32_t frame_pclmul(const unsigned char *frame, size_t size) {
    return frame_fold(frame, size, long_pclmul);
}

/* One chain over all the blocks, reduced at each block's end without leaving the chain: the
   reduction's products are off the chain's path, so they overlap the next block's folds. */
__attribute__((target(X86_FOLD)))
static void blocks_pclmul(uint32_t crc, const unsigned char *buf, size_t count, size_t block,
                          uint32_t *crcs) {
    __m128i k = load16(k128);
    __m128i x = _mm_xor_si128(load16(buf), _mm_cvtsi32_si128((int)~crc));
    const unsigned char *p = buf + 16;
    if (block == 32) {  /* the resync's marks: its loop written out */
        x = fold128(x, k, load16(p));
        crcs[0] = ~reduce(x);
        for (size_t i = 1; i < count; i++, p += 32) {
            x = fold128(fold128(x, k, load16(p + 16)), k, load16(p + 32));
            crcs[i] = ~reduce(x);
        }
        return;
    }
    for (size_t i = 0, lanes = block / 16 - 1; i < count; i++, lanes = block / 16) {
        for (; lanes; lanes--, p += 16)
            x = fold128(x, k, load16(p));
        crcs[i] = ~reduce(x);
    }
}

/* One frame after the other: their chains are independent, so out-of-order execution already
   overlaps one frame's products with the next one's. */
__attribute__((target(X86_FOLD)))
static void frames_pclmul(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                          size_t count) {
    for (size_t i = 0; i < count; i++)
        crcs[i] = frame_fold(frames[i], sizes[i], long_pclmul);
}

__attribute__((target(X86_YMM)))
static uint32_t crc_vpclmul256(uint32_t crc, const unsigned char *buf, size_t len) {
    return crc_fold(crc, buf, len, long_vpclmul256);
}

__attribute__((target(X86_YMM)))
static uint32_t frame_vpclmul256(const unsigned char *frame, size_t size) {
    return frame_fold(frame, size, long_vpclmul256);
}

__attribute__((target(X86_YMM)))
static void frames_vpclmul256(const unsigned char *const *frames, const size_t *sizes,
                              uint32_t *crcs, size_t count) {
    frames_grouped(frames, sizes, crcs, count, frames4_ymm, long_vpclmul256);
}

__attribute__((target(X86_YMM)))
static size_t run_vpclmul256(const unsigned char *run, size_t size, size_t count) {
    return run_grouped(run, size, count, frames4_ymm, long_vpclmul256);
}

__attribute__((target(X86_ZMM)))
static uint32_t crc_vpclmul512(uint32_t crc, const unsigned char *buf, size_t len) {
    return crc_fold(crc, buf, len, long_vpclmul512);
}

__attribute__((target(X86_ZMM)))
static uint32_t frame_vpclmul512(const unsigned char *frame, size_t size) {
    return frame_fold(frame, size, long_vpclmul512);
}

__attribute__((target(X86_ZMM)))
static void frames_vpclmul512(const unsigned char *const *frames, const size_t *sizes,
                              uint32_t *crcs, size_t count) {
    frames_grouped(frames, sizes, crcs, count, frames4_zmm, long_vpclmul512);
}

__attribute__((target(X86_ZMM)))
static size_t run_vpclmul512(const unsigned char *run, size_t size, size_t count) {
    return run_grouped(run, size, count, frames4_zmm, long_vpclmul512);
}

static void x86_constants(void) {
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
}
#endif

#ifdef AP_ARM
#define ARM_CRC "+crc"
#define ARM_PMULL "+crc+crypto"

/* The raw CRC state (no inversions) after p[0..n), 8 bytes an instruction. */
__attribute__((target(ARM_CRC)))
static inline uint32_t crc_words(uint32_t crc, const unsigned char *p, size_t n) {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32d(crc, v);
    }
    if (n & 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        crc = __crc32w(crc, v);
        p += 4;
    }
    if (n & 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        crc = __crc32h(crc, v);
        p += 2;
    }
    if (n & 1)
        crc = __crc32b(crc, *p);
    return crc;
}

/* A CRC32X takes a few cycles but a new one can start each cycle: three chains over three
   blocks of STREAM bytes keep the unit busy. The second and third start from zero, and the
   round's state is shift(shift(a) ^ b) ^ c, where shift(s) is the state after STREAM zero
   bytes from s: s times x^(8 STREAM) mod P, linear in s, so a table per byte of s gives it
   in four lookups. */
#define STREAM 256
static uint32_t stream_shift[4][256];

static uint32_t shift_stream(uint32_t s) {
    return stream_shift[0][s & 0xFF] ^ stream_shift[1][(s >> 8) & 0xFF] ^
           stream_shift[2][(s >> 16) & 0xFF] ^ stream_shift[3][s >> 24];
}

static void stream_tables(void) {
    static const unsigned char zeros[STREAM];
    uint32_t bit_shift[32];
    for (int bit = 0; bit < 32; bit++)
        bit_shift[bit] = crc_table_raw((uint32_t)1 << bit, zeros, STREAM);
    for (int byte = 0; byte < 4; byte++)
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t s = 0;
            for (int bit = 0; bit < 8; bit++)
                if ((v >> bit) & 1)
                    s ^= bit_shift[8 * byte + bit];
            stream_shift[byte][v] = s;
        }
}

__attribute__((target(ARM_CRC)))
static uint32_t crc_streams(uint32_t crc, const unsigned char *p, size_t n) {
    for (; n >= 3 * STREAM; p += 3 * STREAM, n -= 3 * STREAM) {
        uint32_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < STREAM; i += 8) {
            uint64_t va, vb, vc;
            memcpy(&va, p + i, 8);
            memcpy(&vb, p + STREAM + i, 8);
            memcpy(&vc, p + 2 * STREAM + i, 8);
            a = __crc32d(a, va);
            b = __crc32d(b, vb);
            c = __crc32d(c, vc);
        }
        crc = shift_stream(shift_stream(a) ^ b) ^ c;
    }
    return crc_words(crc, p, n);
}

#ifndef AP_CRC32_NO_PMULL
/* From this length on PMULL folds instead: two products per 16 bytes where CRC32X needs two
   instructions, on units that cores with PMULL have at least as many of. Not measured: no
   ARM hardware was at hand, only emulation. */
#define FOLD_MINIMUM 1024
static int use_pmull;   /* set by ap_crc32_init() from what the CPU has */

__attribute__((target(ARM_PMULL)))
static inline uint64x2_t load_lane(const unsigned char *p) {
    return vreinterpretq_u64_u8(vld1q_u8(p));
}

__attribute__((target(ARM_PMULL)))
static inline uint64x2_t fold_pmull(uint64x2_t lane, poly64x2_t k, uint64x2_t next) {
    poly64x2_t x = vreinterpretq_p64_u64(lane);
    uint64x2_t lo = vreinterpretq_u64_p128(vmull_p64(vgetq_lane_p64(x, 0), vgetq_lane_p64(k, 0)));
    uint64x2_t hi = vreinterpretq_u64_p128(vmull_high_p64(x, k));
    return veorq_u64(veorq_u64(lo, hi), next);
}

/* The x86 paths' fold_chains, with the same constants, from n >= 64 bytes; the CRC32
   instructions then take the folded lane, as a 16-byte message from a zero state, and the
   last 0..63 bytes. */
__attribute__((target(ARM_PMULL)))
static uint32_t crc_pmull(uint32_t crc, const unsigned char *p, size_t n) {
    poly64x2_t k = vreinterpretq_p64_u64(vld1q_u64(k512));
    uint64x2_t x0 = veorq_u64(load_lane(p), vsetq_lane_u64(crc, vdupq_n_u64(0), 0));
    uint64x2_t x1 = load_lane(p + 16), x2 = load_lane(p + 32), x3 = load_lane(p + 48);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = fold_pmull(x0, k, load_lane(p));
        x1 = fold_pmull(x1, k, load_lane(p + 16));
        x2 = fold_pmull(x2, k, load_lane(p + 32));
        x3 = fold_pmull(x3, k, load_lane(p + 48));
    }
    k = vreinterpretq_p64_u64(vld1q_u64(k128));
    uint64x2_t x = fold_pmull(fold_pmull(fold_pmull(x0, k, x1), k, x2), k, x3);
    crc = __crc32d(__crc32d(0, vgetq_lane_u64(x, 0)), vgetq_lane_u64(x, 1));
    return crc_words(crc, p, n);
}
#endif

__attribute__((target(ARM_CRC)))
static inline uint32_t crc_armv8_raw(uint32_t crc, const unsigned char *p, size_t n) {
    if (n < 3 * STREAM)
        return crc_words(crc, p, n);
#ifndef AP_CRC32_NO_PMULL
    if (use_pmull && n >= FOLD_MINIMUM)
        return crc_pmull(crc, p, n);
#endif
    return crc_streams(crc, p, n);
}

__attribute__((target(ARM_CRC)))
static uint32_t crc_armv8(uint32_t crc, const unsigned char *buf, size_t len) {
    return ~crc_armv8_raw(~crc, buf, len);
}

/* The 28 bytes before the checksum: three words and a half. */
__attribute__((target(ARM_CRC)))
static inline uint32_t crc_head(const unsigned char *frame) {
    uint64_t w0, w1, w2;
    uint32_t w3;
    memcpy(&w0, frame, 8);
    memcpy(&w1, frame + 8, 8);
    memcpy(&w2, frame + 16, 8);
    memcpy(&w3, frame + 24, 4);
    return __crc32w(__crc32d(__crc32d(__crc32d(0xFFFFFFFFu, w0), w1), w2), w3);
}

__attribute__((target(ARM_CRC)))
static uint32_t frame_armv8(const unsigned char *frame, size_t size) {
    return ~crc_armv8_raw(crc_head(frame), frame + AP_CHECKSUM_END, size - AP_CHECKSUM_END);
}

/* Four frames in step, one chain each, over the words all four have; then each its rest. */
__attribute__((target(ARM_CRC)))
static void frames_armv8(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                         size_t count) {
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const unsigned char *f0 = frames[i], *f1 = frames[i + 1], *f2 = frames[i + 2],
                            *f3 = frames[i + 3];
        size_t common = sizes[i] < sizes[i + 1] ? sizes[i] : sizes[i + 1];
        common = sizes[i + 2] < common ? sizes[i + 2] : common;
        common = sizes[i + 3] < common ? sizes[i + 3] : common;
        common = AP_CHECKSUM_END + ((common - AP_CHECKSUM_END) & ~(size_t)7);
        uint32_t c0 = crc_head(f0), c1 = crc_head(f1), c2 = crc_head(f2), c3 = crc_head(f3);
        for (size_t at = AP_CHECKSUM_END; at < common; at += 8) {
            uint64_t v0, v1, v2, v3;
            memcpy(&v0, f0 + at, 8);
            memcpy(&v1, f1 + at, 8);
            memcpy(&v2, f2 + at, 8);
            memcpy(&v3, f3 + at, 8);
            c0 = __crc32d(c0, v0);
            c1 = __crc32d(c1, v1);
            c2 = __crc32d(c2, v2);
            c3 = __crc32d(c3, v3);
        }
        crcs[i] = ~crc_armv8_raw(c0, f0 + common, sizes[i] - common);
        crcs[i + 1] = ~crc_armv8_raw(c1, f1 + common, sizes[i + 1] - common);
        crcs[i + 2] = ~crc_armv8_raw(c2, f2 + common, sizes[i + 2] - common);
        crcs[i + 3] = ~crc_armv8_raw(c3, f3 + common, sizes[i + 3] - common);
    }
    for (; i < count; i++)
        crcs[i] = frame_armv8(frames[i], sizes[i]);
}
#endif

/* The paths in the order ap_crc32_init() prefers them, last first. */
struct crc_path {
    const char *name;
    uint32_t (*crc)(uint32_t crc, const unsigned char *buf, size_t len);
    uint32_t (*frame)(const unsigned char *frame, size_t size);
    void (*frames)(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                   size_t count);
    /* ap_crc32_blocks for blocks of a multiple of 16 bytes; 0: block by block with crc */
    void (*blocks)(uint32_t crc, const unsigned char *buf, size_t count, size_t block,
                   uint32_t *crcs);
    /* ap_crc32_run; 0: through `frames`, a few frames at a time */
    size_t (*run)(const unsigned char *run, size_t size, size_t count);
};

static const struct crc_path paths[AP_CRC32_PATHS] = {
    {"table", ap_crc32_portable, frame_table, frames_table, 0, 0},
#ifdef AP_X86
    {"pclmul", crc_pclmul, frame_pclmul, frames_pclmul, blocks_pclmul, 0},
    {"vpclmul256", crc_vpclmul256, frame_vpclmul256, frames_vpclmul256, blocks_pclmul,
     run_vpclmul256},
    {"vpclmul512", crc_vpclmul512, frame_vpclmul512, frames_vpclmul512, blocks_pclmul,
     run_vpclmul512},
#else
    {"pclmul", 0, 0, 0, 0, 0},
    {"vpclmul256", 0, 0, 0, 0, 0},
    {"vpclmul512", 0, 0, 0, 0, 0},
#endif
#ifdef AP_ARM
    {"armv8", crc_armv8, frame_armv8, frames_armv8, 0, 0},
#else
    {"armv8", 0, 0, 0, 0, 0},
#endif
};

static int available[AP_CRC32_PATHS];
static const struct crc_path *current = &paths[0];

void ap_crc32_init(void) {
    static int done;
    if (done)
        return;
    done = 1;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++)
            c = (c >> 1) ^ ((c & 1u) ? POLY_REFLECTED : 0);
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
    available[0] = 1;
#ifdef AP_FOLDING
    fold_constants();
#endif
#ifdef AP_X86
    x86_constants();
    __builtin_cpu_init();
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        available[1] = 1;
        available[2] = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq");
        available[3] = available[2] && __builtin_cpu_supports("avx512f") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    }
#elif defined(AP_ARM)
    stream_tables();
#if defined(__APPLE__)
    /* every Apple ARM64 core has both */
    available[4] = 1;
    int has_pmull = 1;
#elif defined(__linux__)
    unsigned long hwcap = getauxval(AT_HWCAP);
    available[4] = (hwcap & HWCAP_CRC32) != 0;
    int has_pmull = (hwcap & HWCAP_PMULL) != 0;
#else
    int has_pmull = 0;
#endif
#ifndef AP_CRC32_NO_PMULL
    use_pmull = has_pmull;
#else
    (void)has_pmull;
#endif
#endif
    for (int i = 0; i < AP_CRC32_PATHS; i++)
        if (available[i])
            current = &paths[i];
}

const char *ap_crc32_path_name(int path) {
    return path >= 0 && path < AP_CRC32_PATHS ? paths[path].name : 0;
}

int ap_crc32_path_available(int path) {
    return path >= 0 && path < AP_CRC32_PATHS && available[path];
}

int ap_crc32_use(int path) {
    if (!ap_crc32_path_available(path))
        return -1;
    current = &paths[path];
    return 0;
}

const char *ap_crc32_impl(void) { return current->name; }

uint32_t ap_crc32(uint32_t crc, const unsigned char *buf, size_t len) {
    return current->crc(crc, buf, len);
}

uint32_t ap_crc32_frame(const unsigned char *frame, size_t size) {
    return current->frame(frame, size);
}

void ap_crc32_frames(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                     size_t count) {
    current->frames(frames, sizes, crcs, count);
}

#define RUN_STEP 16 /* frames handed to a path's `frames` at a time by run_frames */

static size_t run_frames(const struct crc_path *path, const unsigned char *run, size_t size,
                         size_t count) {
    const unsigned char *frames[RUN_STEP];
    size_t sizes[RUN_STEP];
    uint32_t crcs[RUN_STEP];
    for (size_t done = 0; done < count; done += RUN_STEP) {
        size_t n = count - done < RUN_STEP ? count - done : RUN_STEP;
        for (size_t i = 0; i < n; i++) {
            frames[i] = run + (done + i) * size;
            sizes[i] = size;
        }
        path->frames(frames, sizes, crcs, n);
        for (size_t i = 0; i < n; i++)
            if (crcs[i] != stored_checksum(frames[i]))
                return done + i;
    }
    return count;
}

static size_t run_with(const struct crc_path *path, const unsigned char *run, size_t size,
                       size_t count) {
    if (size < AP_CHECKSUM_END)
        return 0;
    return path->run ? path->run(run, size, count) : run_frames(path, run, size, count);
}

size_t ap_crc32_run(const unsigned char *run, size_t size, size_t count) {
    return run_with(current, run, size, count);
}

size_t ap_crc32_run_with(int path, const unsigned char *run, size_t size, size_t count) {
    return run_with(&paths[path], run, size, count);
}

void ap_crc32_blocks(uint32_t crc, const unsigned char *buf, size_t count, size_t block,
                     uint32_t *crcs) {
    if (count == 0)
        return;
    if (current->blocks && block >= 16 && block % 16 == 0) {
        current->blocks(crc, buf, count, block, crcs);
        return;
    }
    for (size_t i = 0; i < count; i++, buf += block)
        crc = crcs[i] = current->crc(crc, buf, block);
}

uint32_t ap_crc32_with(int path, uint32_t crc, const unsigned char *buf, size_t len) {
    return paths[path].crc(crc, buf, len);
}

void ap_crc32_frames_with(int path, const unsigned char *const *frames, const size_t *sizes,
                          uint32_t *crcs, size_t count) {
    paths[path].frames(frames, sizes, crcs, count);
}
