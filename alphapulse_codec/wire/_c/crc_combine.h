/* CRC-32 (zlib's) of any span of a buffer in O(1) amortised, from CRCs of its prefixes: for
   the resync of the batch decoder, where every candidate frame may claim a large size.
   Call ap_crc_combine_init() once, after ap_crc32_init(). */
#ifndef ALPHAPULSE_CRC_COMBINE_H
#define ALPHAPULSE_CRC_COMBINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prefix CRCs of one buffer, from the first span asked for on, extended as later spans need.
   Zero it (or ap_crc_ranges_free it) before spans of another buffer are asked for. */
typedef struct {
    const unsigned char *data;  /* the buffer the prefixes are of */
    size_t origin;              /* where prefix[0] stands in it */
    size_t count, capacity;     /* prefixes computed, and room for */
    uint32_t *prefix;           /* prefix[i]: raw CRC of data[origin, origin + 32 i) */
    size_t power_length;        /* the last span length shifted over, and x^(8 length) mod P */
    uint32_t power;
    size_t frame_length;        /* the last frame body length, and its factors */
    uint32_t frame_factors[3];
    int portable;               /* table steps and carry-less products in software alone */
    size_t hashed;              /* bytes that CRC steps went over, kept by ap_crc_ranges_free */
} ap_crc_ranges;

void ap_crc_combine_init(void);
/* Frees the prefixes; `ranges` stays usable, with the same path and count of bytes. */
void ap_crc_ranges_free(ap_crc_ranges *ranges);
/* zlib.crc32(data[at:at + size], crc) into *result: 0, or -1 when out of memory. `data` holds
   `length` bytes, over which prefixes may be computed ahead of the spans asked for. */
int ap_crc32_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length, size_t at,
                  size_t size, uint32_t crc, uint32_t *result);
/* ap_crc32_frame(data + at, size) the same way (size >= 32). */
int ap_crc32_frame_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length,
                        size_t at, size_t size, uint32_t *result);
/* "pclmulqdq" or "table": how this CPU multiplies modulo the polynomial. */
const char *ap_crc_combine_impl(void);

#ifdef __cplusplus
}
#endif

#endif
