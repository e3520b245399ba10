/* CRC-32 of a span from prefix CRCs. The "raw" CRC r(M), with neither zlib's initial value
   nor its final inversion, is linear: r(A || B) = r(A) x^(8|B|) xor r(B) modulo the
   polynomial P. With Q(x) the raw CRC of the buffer from `origin` to x,
       r(data[a, b)) = Q(b) xor Q(a) x^(8(b - a)),
   and zlib's CRC starting from c is ~(r(data[a, b)) xor ~c x^(8(b - a))), so
       crc32(data[a, b), c) = ~(Q(b) xor (Q(a) xor ~c) x^(8(b - a))).
   Q is kept at every 32nd byte (4 bytes of memory per 32 of input), computed in one pass per
   extension (ap_crc32_blocks), and taken from the nearest mark below with at most 31 bytes of
   CRC steps; the product is one carry-less multiplication and a reduction. Spans of one length
   (hostile headers claim the same size) reuse x^(8 length). A resync asks for a frame's CRC at
   every candidate, back to back headers one every 32 bytes: the marks fall on their starts and
   ends, so such a candidate costs the 32 bytes its marks add and three products summed in one
   reduction (ap_crc32_frame_span).

   Polynomials are bit-reflected as in zlib: bit i of a 32-bit word is the coefficient of
   x^(31-i). The carry-less product of two such words, moved up one bit, is a 64-bit word
   whose bit i is the coefficient of x^(63-i). */
#include "crc_combine.h"

#include <stdlib.h>

#include "crc32.h"

#if defined(__x86_64__) || defined(_M_X64)
#define AP_X86 1
#include <immintrin.h>
#endif

#define BLOCK 32
#define ONE 0x80000000u  /* x^0, reflected */

/* x^(2^k) mod P for k = 0..31. As zlib's crc32_combine (x2nmodp) relies on, x^(2^32) = x
   mod P, so the exponent's bits above the 32nd reuse the table cyclically. */
static uint32_t x2n[32];
static uint32_t x_minus32;  /* x^-32 mod P: x^(2^32 - 1) = 1, so x^(2^32 - 33) */
static int use_clmul;

static const unsigned char zeros[4];

/* t x^32 mod P: four table steps over zero bytes. */
static uint32_t times_x32(uint32_t t) {
    return ~ap_crc32_portable(~t, zeros, 4);
}

static uint32_t multiply_table(uint32_t a, uint32_t b) {
    uint64_t product = 0;
    for (int i = 0; i < 32; i++)
        product ^= ((uint64_t)b << i) & (0 - (uint64_t)((a >> i) & 1));
    product <<= 1;
    return (uint32_t)(product >> 32) ^ times_x32((uint32_t)product);
}

#ifdef AP_X86
/* Barrett reduction of the 64-bit product, as in the Linux kernel's crc32-pclmul: floor(x^64
   / P) and P, both 33 bits and reflected (0x1F7011641, 0x1DB710641); the quotient of the
   low half times P cancels it, leaving the remainder in the high half. */
#define BARRETT_MU 0x1F7011641ull
#define BARRETT_P 0x1DB710641ull

__attribute__((target("pclmul,sse2")))
static uint32_t multiply_clmul(uint32_t a, uint32_t b) {
    __m128i k = _mm_set_epi64x((long long)BARRETT_MU, (long long)BARRETT_P);
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a), _mm_cvtsi32_si128((int)b), 0);
    uint64_t v = (uint64_t)_mm_cvtsi128_si64(p) << 1;
    __m128i q = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)(uint32_t)v), k, 0x10);
    __m128i r = _mm_clmulepi64_si128(_mm_cvtsi32_si128(_mm_cvtsi128_si32(q)), k, 0x00);
    return (uint32_t)(((uint64_t)_mm_cvtsi128_si64(r) ^ v) >> 32);
}
#endif

static uint32_t multiply(const ap_crc_ranges *ranges, uint32_t a, uint32_t b) {
#ifdef AP_X86
    if (use_clmul && !ranges->portable)
        return multiply_clmul(a, b);
#endif
    (void)ranges;
    return multiply_table(a, b);
}

#ifdef AP_X86
/* a0 b0 + a1 b1 + a2 b2 mod P: the products are summed before the one reduction they share. */
__attribute__((target("pclmul,sse2")))
static uint32_t multiply3_clmul(const uint32_t a[3], const uint32_t b[3]) {
    __m128i k = _mm_set_epi64x((long long)BARRETT_MU, (long long)BARRETT_P);
    __m128i p = _mm_xor_si128(
        _mm_xor_si128(_mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a[0]),
                                           _mm_cvtsi32_si128((int)b[0]), 0),
                      _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a[1]),
                                           _mm_cvtsi32_si128((int)b[1]), 0)),
        _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a[2]), _mm_cvtsi32_si128((int)b[2]), 0));
    uint64_t v = (uint64_t)_mm_cvtsi128_si64(p) << 1;
    __m128i q = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)(uint32_t)v), k, 0x10);
    __m128i r = _mm_clmulepi64_si128(_mm_cvtsi32_si128(_mm_cvtsi128_si32(q)), k, 0x00);
    return (uint32_t)(((uint64_t)_mm_cvtsi128_si64(r) ^ v) >> 32);
}
#endif

static uint32_t multiply3(const ap_crc_ranges *ranges, const uint32_t a[3], const uint32_t b[3]) {
#ifdef AP_X86
    if (use_clmul && !ranges->portable)
        return multiply3_clmul(a, b);
#endif
    (void)ranges;
    return multiply_table(a[0], b[0]) ^ multiply_table(a[1], b[1]) ^ multiply_table(a[2], b[2]);
}

/* x^n mod P. */
static uint32_t x_to(uint64_t n) {
    uint32_t p = ONE;
    for (unsigned k = 0; n; n >>= 1, k++)
        if (n & 1)
            p = multiply_table(x2n[k & 31], p);
    return p;
}

void ap_crc_combine_init(void) {
#ifdef AP_X86
    use_clmul = __builtin_cpu_supports("pclmul");
#endif
    uint32_t p = ONE >> 1;  /* x^1 */
    for (int k = 0; k < 32; k++) {
        x2n[k] = p;
        p = multiply_table(p, p);
    }
    x_minus32 = x_to(0xFFFFFFFFull - 32);
}

const char *ap_crc_combine_impl(void) {
    return use_clmul ? "pclmulqdq" : "table";
}

/* x^(8 length) mod P, remembered for the last length asked (never 0, as x is invertible modulo
   P: a zeroed `ranges` remembers none). */
static uint32_t power(ap_crc_ranges *ranges, size_t length) {
    if (length != ranges->power_length || ranges->power == 0) {
        uint32_t p = ONE;
        unsigned k = 3;
        for (size_t n = length; n; n >>= 1, k++)
            if (n & 1)
                p = multiply(ranges, x2n[k & 31], p);
        ranges->power_length = length;
        ranges->power = p;
    }
    return ranges->power;
}

/* The factors of a frame's CRC (see ap_crc32_frame_span) for a body of `length` bytes after
   the header: x^(8 length) + x^(8 length - 32), x^(8 length + 224), x^(8 length); remembered for
   the last length asked (a zeroed `ranges` remembers none, as the last is never 0). */
static const uint32_t *frame_factors(ap_crc_ranges *ranges, size_t length) {
    if (length != ranges->frame_length || ranges->frame_factors[2] == 0) {
        uint32_t shift = power(ranges, length);
        ranges->frame_factors[0] = shift ^ multiply(ranges, shift, x_minus32);
        ranges->frame_factors[1] = multiply(ranges, shift, x_to(224));
        ranges->frame_factors[2] = shift;
        ranges->frame_length = length;
    }
    return ranges->frame_factors;
}

/* Raw CRC of n bytes continuing from raw CRC c. */
static uint32_t raw(ap_crc_ranges *ranges, uint32_t c, const unsigned char *p, size_t n) {
    ranges->hashed += n;
    return ranges->portable ? ~ap_crc32_portable(~c, p, n) : ~ap_crc32(~c, p, n);
}

void ap_crc_ranges_free(ap_crc_ranges *ranges) {
    free(ranges->prefix);
    ranges->prefix = NULL;
    ranges->data = NULL;
    ranges->origin = ranges->count = ranges->capacity = 0;
}

/* Prefixes up to the last 32-byte mark at or before `end` at least; restarts at `at` when the
   spans move to another buffer, or past what is covered (so valid frames between two resyncs
   are never summed). What is covered at least doubles each time, up to the buffer's `length`:
   a resync's candidates claim ends that move on a little each, and extending by that little
   would cost a call per candidate; this way the prefixes computed and not needed are at most
   as many as those needed. */
static int extend(ap_crc_ranges *ranges, const unsigned char *data, size_t length, size_t at,
                  size_t end) {
    if (ranges->data != data || at < ranges->origin ||
            (at - ranges->origin) / BLOCK >= ranges->count) {
        ranges->data = data;
        ranges->origin = at;
        ranges->count = 0;
    }
    size_t needed = (end - ranges->origin) / BLOCK + 1;
    size_t ahead = 2 * ranges->count, most = (length - ranges->origin) / BLOCK + 1;
    if (ahead > needed)
        needed = ahead < most ? ahead : most;
    if (needed > ranges->capacity) {
        size_t capacity = ranges->capacity ? ranges->capacity : 1024;
        while (capacity < needed)
            capacity *= 2;
        uint32_t *grown = realloc(ranges->prefix, capacity * sizeof(uint32_t));
        if (grown == NULL)
            return -1;
        ranges->prefix = grown;
        ranges->capacity = capacity;
    }
    if (ranges->count == 0)
        ranges->prefix[ranges->count++] = 0;
    if (needed <= ranges->count)
        return 0;
    size_t from = ranges->count - 1, blocks = needed - ranges->count;
    const unsigned char *block = data + ranges->origin + from * BLOCK;
    uint32_t *marks = ranges->prefix + ranges->count;
    ranges->hashed += blocks * BLOCK;
    if (ranges->portable) {
        for (size_t i = 0; i < blocks; i++, block += BLOCK)
            marks[i] = ~ap_crc32_portable(~(i ? marks[i - 1] : ranges->prefix[from]), block,
                                          BLOCK);
    } else {
        /* zlib's CRCs from ~Q are ~ the raw ones from Q */
        ap_crc32_blocks(~ranges->prefix[from], block, blocks, BLOCK, marks);
        for (size_t i = 0; i < blocks; i++)
            marks[i] = ~marks[i];
    }
    ranges->count = needed;
    return 0;
}

/* extend(), without its call while the span lies within what is covered, as it mostly does. */
static inline int cover(ap_crc_ranges *ranges, const unsigned char *data, size_t length,
                        size_t at, size_t end) {
    if (ranges->data == data && at >= ranges->origin &&
            end - ranges->origin < ranges->count * BLOCK)
        return 0;
    return extend(ranges, data, length, at, end);
}

/* Q(x): the raw CRC of data[origin, x), x within what is covered. */
static inline uint32_t prefix_at(ap_crc_ranges *ranges, size_t x) {
    size_t offset = x - ranges->origin;
    uint32_t mark = ranges->prefix[offset / BLOCK];
    if (offset % BLOCK == 0)
        return mark;
    return raw(ranges, mark, ranges->data + x - offset % BLOCK, offset % BLOCK);
}

/* ~crc32(data[at, at + size), c) from ~c: the span's CRC continuing from raw CRC `start`. */
static inline uint32_t span(ap_crc_ranges *ranges, size_t at, size_t size, uint32_t start) {
    return prefix_at(ranges, at + size) ^
           multiply(ranges, prefix_at(ranges, at) ^ start, power(ranges, size));
}

int ap_crc32_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length, size_t at,
                  size_t size, uint32_t crc, uint32_t *result) {
    if (cover(ranges, data, length, at, at + size))
        return -1;
    *result = ~span(ranges, at, size, ~crc);
    return 0;
}

/* With H the header's first 28 bytes, C its checksum field (as the word w), B the body, Q read
   at the frame's start a, a + 32 and its end e, and L = |B|:
       r(H || C) = Q(a + 32) + Q(a) x^256 = r(H) x^32 + w x^32,
   so r(H) x^(8L) = Q(a + 32) x^(8L - 32) + Q(a) x^(8L + 224) + w x^(8L), and zlib's CRC of
   H || B, ~(~0 x^(8L + 224) + r(H) x^(8L) + r(B)) with r(B) = Q(e) + Q(a + 32) x^(8L), is
       ~(Q(e) + Q(a + 32) (x^(8L) + x^(8L - 32)) + (Q(a) + ~0) x^(8L + 224) + w x^(8L)):
   the header costs no CRC steps of its own, only a third product in the one reduction. */
int ap_crc32_frame_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length,
                        size_t at, size_t size, uint32_t *result) {
    if (cover(ranges, data, length, at, at + size))
        return -1;
    const unsigned char *c = data + at + AP_CHECKSUM_OFFSET;
    uint32_t terms[3] = {prefix_at(ranges, at + AP_CHECKSUM_END),
                         prefix_at(ranges, at) ^ 0xFFFFFFFFu,
                         (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 |
                             (uint32_t)c[3] << 24};
    *result = ~(prefix_at(ranges, at + size) ^
                multiply3(ranges, terms, frame_factors(ranges, size - AP_CHECKSUM_END)));
    return 0;
}
