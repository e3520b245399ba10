/* CRC-32 with zlib's polynomial and conventions: ap_crc32(ap_crc32(0, a, na), b, nb) equals
   zlib's crc32 of a followed by b. Safe to call from any thread once ap_crc32_init() ran. */
#ifndef ALPHAPULSE_CRC32_H
#define ALPHAPULSE_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Build the tables and pick the fastest path this CPU has; call once, before any other. */
void ap_crc32_init(void);
uint32_t ap_crc32(uint32_t crc, const unsigned char *buf, size_t len);
/* The checksum of a frame: its `size` bytes except the 4 checksum bytes at 28-31. */
#define AP_CHECKSUM_OFFSET 28
#define AP_CHECKSUM_END 32
uint32_t ap_crc32_frame(const unsigned char *frame, size_t size);
/* ap_crc32_frame of `count` frames, faster than one by one where the CPU allows. */
void ap_crc32_frames(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                     size_t count);
/* The table-driven path alone, for checking the accelerated ones. */
uint32_t ap_crc32_portable(uint32_t crc, const unsigned char *buf, size_t len);
/* "vpclmulqdq-avx512", "pclmulqdq", "armv8-crc" or "table". */
const char *ap_crc32_impl(void);

#ifdef __cplusplus
}
#endif

#endif
