/* CRC-32 of a span from prefix CRCs. The "raw" CRC r(M), with neither zlib's initial value
   nor its final inversion, is linear: r(A || B) = r(A) x^(8|B|) xor r(B) modulo the
   polynomial P. With Q(x) the raw CRC of the buffer from `origin` to x,
       r(data[a, b)) = Q(b) xor Q(a) x^(8(b - a)),
   and zlib's CRC starting from c is ~(r(data[a, b)) xor ~c x^(8(b - a))), so
       crc32(data[a, b), c) = ~(Q(b) xor (Q(a) xor ~c) x^(8(b - a))).
   Q is kept at every 64th byte (4 bytes of memory per 64 of input) and taken from the nearest
   one below with at most 63 table steps; the product is one carry-less multiplication and a
   reduction. Spans of one length (hostile headers claim the same size) reuse x^(8 length).

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

#define BLOCK 64
#define ONE 0x80000000u  /* x^0, reflected */

/* x^(2^k) mod P for k = 0..31. As zlib's crc32_combine (x2nmodp) relies on, x^(2^32) = x
   mod P, so the exponent's bits above the 32nd reuse the table cyclically. */
static uint32_t x2n[32];
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

void ap_crc_combine_init(void) {
#ifdef AP_X86
    use_clmul = __builtin_cpu_supports("pclmul");
#endif
    uint32_t p = ONE >> 1;  /* x^1 */
    for (int k = 0; k < 32; k++) {
        x2n[k] = p;
        p = multiply_table(p, p);
    }
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

/* Raw CRC of n bytes continuing from raw CRC c. */
static uint32_t raw(const ap_crc_ranges *ranges, uint32_t c, const unsigned char *p, size_t n) {
    return ranges->portable ? ~ap_crc32_portable(~c, p, n) : ~ap_crc32(~c, p, n);
}

void ap_crc_ranges_free(ap_crc_ranges *ranges) {
    free(ranges->prefix);
    ranges->prefix = NULL;
    ranges->data = NULL;
    ranges->origin = ranges->count = ranges->capacity = 0;
}

/* Prefixes up to the last 64-byte mark at or before `end`; restarts at `at` when the spans
   move to another buffer, or past what is covered (so valid frames between two resyncs are
   never summed). */
static int cover(ap_crc_ranges *ranges, const unsigned char *data, size_t at, size_t end) {
    if (ranges->data != data || at < ranges->origin ||
            (at - ranges->origin) / BLOCK >= ranges->count) {
        ranges->data = data;
        ranges->origin = at;
        ranges->count = 0;
    }
    size_t needed = (end - ranges->origin) / BLOCK + 1;
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
    const unsigned char *block = data + ranges->origin + (ranges->count - 1) * BLOCK;
    for (; ranges->count < needed; ranges->count++, block += BLOCK)
        ranges->prefix[ranges->count] = raw(ranges, ranges->prefix[ranges->count - 1], block,
                                            BLOCK);
    return 0;
}

/* Q(x): the raw CRC of data[origin, x), x within what is covered. */
static uint32_t prefix_at(const ap_crc_ranges *ranges, size_t x) {
    size_t offset = x - ranges->origin;
    return raw(ranges, ranges->prefix[offset / BLOCK],
               ranges->data + x - offset % BLOCK, offset % BLOCK);
}

int ap_crc32_span(ap_crc_ranges *ranges, const unsigned char *data, size_t at, size_t size,
                  uint32_t crc, uint32_t *result) {
    if (cover(ranges, data, at, at + size))
        return -1;
    uint32_t start = prefix_at(ranges, at) ^ ~crc;
    *result = ~(prefix_at(ranges, at + size) ^ multiply(ranges, start, power(ranges, size)));
    return 0;
}

int ap_crc32_frame_span(ap_crc_ranges *ranges, const unsigned char *data, size_t at,
                        size_t size, uint32_t *result) {
    uint32_t header = ranges->portable ? ap_crc32_portable(0, data + at, AP_CHECKSUM_OFFSET)
                                       : ap_crc32(0, data + at, AP_CHECKSUM_OFFSET);
    return ap_crc32_span(ranges, data, at + AP_CHECKSUM_END, size - AP_CHECKSUM_END, header,
                         result);
}
