/* CRC-32 with zlib's polynomial and conventions, at the speed of the CPU it runs on.

   Three paths give the same values:
   - x86-64 with PCLMULQDQ: carry-less multiplication folds 64 bytes per step into four 128-bit
     lanes (with VPCLMULQDQ and AVX-512, 256 bytes into four 512-bit lanes);
   - ARMv8 with the CRC32 extension: the CRC32X instruction, 8 bytes per step;
   - everywhere: slicing-by-8 tables.
   The folding keeps the CRC's remainder: what is left after the last fold is a 16-byte
   "message" whose table CRC, from a zero state, finishes the job; no Barrett reduction needed.
   Tables and folding constants are computed from the polynomial by ap_crc32_init(). */
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

/* table[k][b]: the CRC of byte b followed by k zero bytes. Slicing-by-8 uses the first 8;
   the fold finish uses all 16, whose lookups of one 16-byte block are independent. */
static uint32_t table[16][256];

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

/* x^n mod P, in the bit-reflected form the folding multiplies by. */
static uint64_t fold_constant(unsigned n) {
    uint32_t r = 1;
    while (n--)
        r = (r << 1) ^ ((r & 0x80000000u) ? POLY_NORMAL : 0);
    return (uint64_t)reverse32(r) << 1;
}

/* Constant pairs for folding a lane forward by 128, 512 and 2048 bits: the low half of a lane
   is multiplied by x^(D+32) mod P, the high half by x^(D-32) mod P (reflected). */
static uint64_t k128[2], k512[2], k2048[2];

__attribute__((target("pclmul,sse2")))
static inline __m128i fold128(__m128i lane, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00),
                                       _mm_clmulepi64_si128(lane, k, 0x11)), next);
}

/* The CRC, from a zero state, of the final lane as 16 message bytes, then of the tail. */
__attribute__((target("pclmul,sse2")))
static uint32_t finish(__m128i lane, const unsigned char *tail, size_t n) {
    unsigned char rest[16];
    uint32_t crc = 0;
    _mm_storeu_si128((__m128i *)rest, lane);
    for (int i = 0; i < 16; i++)
        crc ^= table[15 - i][rest[i]];
    return crc_table_raw(crc, tail, n);
}

/* Short input in up to two parts, copied behind enough zero bytes to end on a 16-byte lane
   boundary: leading zeros leave a zero-state CRC unchanged, so the state goes into the first
   real bytes and every lane is whole. na + nb <= SMALL_MAX. */
#define SMALL_MAX 240

__attribute__((target("pclmul,sse2")))
static uint32_t crc_small_pclmul_raw(uint32_t crc, const unsigned char *a, size_t na,
                                     const unsigned char *b, size_t nb) {
    unsigned char lanes[SMALL_MAX + 16];
    size_t n = na + nb, pad = (16 - n % 16) % 16;
    memset(lanes, 0, 16);
    memcpy(lanes + pad, a, na);
    if (nb)
        memcpy(lanes + pad + na, b, nb);
    uint32_t first;
    memcpy(&first, lanes + pad, 4);
    first ^= crc;
    memcpy(lanes + pad, &first, 4);
    __m128i k = _mm_loadu_si128((const __m128i *)k128);
    __m128i x = _mm_loadu_si128((const __m128i *)lanes);
    for (size_t at = 16; at < pad + n; at += 16)
        x = fold128(x, k, _mm_loadu_si128((const __m128i *)(lanes + at)));
    return finish(x, NULL, 0);
}

/* The checksums of four short frames at once: each frame's checksummed bytes are copied behind
   zeros so that all four end on the same lane count, and the four fold chains run side by
   side, which hides the latency of each multiplication behind the other three. */
__attribute__((target("pclmul,sse2")))
static int crc_frames4_pclmul(const unsigned char *const *frames, const size_t *sizes,
                              uint32_t *crcs) {
    unsigned char lanes[4][SMALL_MAX + 16];
    size_t count = 0;
    for (int j = 0; j < 4; j++) {
        size_t n = sizes[j] - 4;
        if (sizes[j] < 36 || n > SMALL_MAX)
            return 0;
        if ((n + 15) / 16 > count)
            count = (n + 15) / 16;
    }
    for (int j = 0; j < 4; j++) {
        size_t n = sizes[j] - 4, pad = 16 * count - n;
        uint32_t first;
        memset(lanes[j], 0, pad);
        memcpy(&first, frames[j], 4);
        first = ~first;
        memcpy(lanes[j] + pad, &first, 4);
        memcpy(lanes[j] + pad + 4, frames[j] + 4, 24);
        memcpy(lanes[j] + pad + 28, frames[j] + 32, n - 28);
    }
    __m128i k = _mm_loadu_si128((const __m128i *)k128);
    __m128i x0 = _mm_loadu_si128((const __m128i *)lanes[0]);
    __m128i x1 = _mm_loadu_si128((const __m128i *)lanes[1]);
    __m128i x2 = _mm_loadu_si128((const __m128i *)lanes[2]);
    __m128i x3 = _mm_loadu_si128((const __m128i *)lanes[3]);
    for (size_t at = 16; at < 16 * count; at += 16) {
        x0 = fold128(x0, k, _mm_loadu_si128((const __m128i *)(lanes[0] + at)));
        x1 = fold128(x1, k, _mm_loadu_si128((const __m128i *)(lanes[1] + at)));
        x2 = fold128(x2, k, _mm_loadu_si128((const __m128i *)(lanes[2] + at)));
        x3 = fold128(x3, k, _mm_loadu_si128((const __m128i *)(lanes[3] + at)));
    }
    crcs[0] = ~finish(x0, NULL, 0);
    crcs[1] = ~finish(x1, NULL, 0);
    crcs[2] = ~finish(x2, NULL, 0);
    crcs[3] = ~finish(x3, NULL, 0);
    return 1;
}

/* Four 128-bit lanes folded 64 bytes at a time; n >= 64. */
__attribute__((target("pclmul,sse2")))
static uint32_t crc_pclmul_raw(uint32_t crc, const unsigned char *p, size_t n) {
    __m128i k = _mm_loadu_si128((const __m128i *)k512);
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = fold128(x0, k, _mm_loadu_si128((const __m128i *)p));
        x1 = fold128(x1, k, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold128(x2, k, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold128(x3, k, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    k = _mm_loadu_si128((const __m128i *)k128);
    x0 = fold128(fold128(fold128(x0, k, x1), k, x2), k, x3);
    for (; n >= 16; p += 16, n -= 16)
        x0 = fold128(x0, k, _mm_loadu_si128((const __m128i *)p));
    return finish(x0, p, n);
}

/* Four 512-bit lanes folded 256 bytes at a time, then handed to the 128-bit lanes; n >= 256. */
__attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul")))
static uint32_t crc_vpclmul_raw(uint32_t crc, const unsigned char *p, size_t n) {
    __m512i k = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)k2048));
    __m512i z[4];
    for (int i = 0; i < 4; i++)
        z[i] = _mm512_loadu_si512((const void *)(p + 64 * i));
    z[0] = _mm512_xor_si512(z[0], _mm512_castsi128_si512(_mm_cvtsi32_si128((int)crc)));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        for (int i = 0; i < 4; i++) {
            __m512i next = _mm512_loadu_si512((const void *)(p + 64 * i));
            z[i] = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z[i], k, 0x00),
                                             _mm512_clmulepi64_epi128(z[i], k, 0x11), next, 0x96);
        }
    }
    /* Stored back to back, the four registers are the last 256 bytes' 16 lanes in message
       order; folding them one after another at 128-bit distance keeps the remainder. */
    __m128i kk = _mm_loadu_si128((const __m128i *)k128);
    unsigned char lanes[256];
    for (int i = 0; i < 4; i++)
        _mm512_storeu_si512((void *)(lanes + 64 * i), z[i]);
    __m128i x = _mm_loadu_si128((const __m128i *)lanes);
    for (int i = 1; i < 16; i++)
        x = fold128(x, kk, _mm_loadu_si128((const __m128i *)(lanes + 16 * i)));
    for (; n >= 16; p += 16, n -= 16)
        x = fold128(x, kk, _mm_loadu_si128((const __m128i *)p));
    return finish(x, p, n);
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
typedef uint32_t (*crc_two_parts_fn)(uint32_t, const unsigned char *, size_t,
                                     const unsigned char *, size_t);

static uint32_t crc_table_two_parts_raw(uint32_t crc, const unsigned char *a, size_t na,
                                        const unsigned char *b, size_t nb) {
    return crc_table_raw(crc_table_raw(crc, a, na), b, nb);
}

static crc_two_parts_fn small = crc_table_two_parts_raw;   /* for small_minimum <= n < bulk_minimum */
static size_t small_minimum = (size_t)-1;

static crc_raw_fn bulk = crc_table_raw;   /* for n >= bulk_minimum */
static size_t bulk_minimum = (size_t)-1;
static crc_raw_fn huge = crc_table_raw;   /* for n >= huge_minimum */
static size_t huge_minimum = (size_t)-1;
static const char *implementation = "table";

void ap_crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++)
            c = (c >> 1) ^ ((c & 1u) ? POLY_REFLECTED : 0);
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 16; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
#ifdef AP_X86
    k128[0] = fold_constant(128 + 32);
    k128[1] = fold_constant(128 - 32);
    k512[0] = fold_constant(512 + 32);
    k512[1] = fold_constant(512 - 32);
    k2048[0] = fold_constant(2048 + 32);
    k2048[1] = fold_constant(2048 - 32);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2")) {
        small = crc_small_pclmul_raw;
        small_minimum = 16;
        bulk = crc_pclmul_raw;
        bulk_minimum = SMALL_MAX + 1;
        implementation = "pclmulqdq";
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("vpclmulqdq")) {
            huge = crc_vpclmul_raw;
            huge_minimum = 1024;
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
    if (len >= huge_minimum)
        return huge(crc, buf, len);
    if (len >= bulk_minimum)
        return bulk(crc, buf, len);
    if (len >= small_minimum)
        return small(crc, buf, len, NULL, 0);
    return crc_table_raw(crc, buf, len);
}

uint32_t ap_crc32(uint32_t crc, const unsigned char *buf, size_t len) {
    return ~crc_raw(~crc, buf, len);
}

uint32_t ap_crc32_frame(const unsigned char *frame, size_t size) {
    size_t payload = size - AP_CHECKSUM_END;
    if (AP_CHECKSUM_OFFSET + payload >= small_minimum && AP_CHECKSUM_OFFSET + payload < bulk_minimum)
        return ~small(0xFFFFFFFFu, frame, AP_CHECKSUM_OFFSET, frame + AP_CHECKSUM_END, payload);
    return ~crc_raw(crc_raw(0xFFFFFFFFu, frame, AP_CHECKSUM_OFFSET), frame + AP_CHECKSUM_END,
                    payload);
}

void ap_crc32_frames(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                     size_t count) {
    size_t i = 0;
#ifdef AP_X86
    if (small == crc_small_pclmul_raw)
        while (i + 4 <= count && crc_frames4_pclmul(frames + i, sizes + i, crcs + i))
            i += 4;
#endif
    for (; i < count; i++)
        crcs[i] = ap_crc32_frame(frames[i], sizes[i]);
}

const char *ap_crc32_impl(void) { return implementation; }
