/* CRC-32 with zlib's polynomial and conventions: ap_crc32(ap_crc32(0, a, na), b, nb) equals
   zlib's crc32 of a followed by b. Safe to call from any thread once ap_crc32_init() ran. */
#ifndef ALPHAPULSE_CRC32_H
#define ALPHAPULSE_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Build the tables and pick the fastest path this CPU has; call before any other. Once is
   enough: later calls do nothing, and keep a path chosen with ap_crc32_use(). */
void ap_crc32_init(void);
uint32_t ap_crc32(uint32_t crc, const unsigned char *buf, size_t len);
/* The checksum of a frame: its `size` bytes except the 4 checksum bytes at 28-31. */
#define AP_CHECKSUM_OFFSET 28
#define AP_CHECKSUM_END 32
uint32_t ap_crc32_frame(const unsigned char *frame, size_t size);
/* ap_crc32_frame of `count` frames, faster than one by one where the CPU allows. */
void ap_crc32_frames(const unsigned char *const *frames, const size_t *sizes, uint32_t *crcs,
                     size_t count);
/* How many of `count` frames of `size` bytes each, back to back from `run`, carry their
   checksum before the first that does not (`count` when all do); 0 for frames too short to
   carry one. Faster than ap_crc32_frames where the CPU allows: the frames' addresses are not
   stored and loaded back, and the checksums are compared several at a time. */
size_t ap_crc32_run(const unsigned char *run, size_t size, size_t count);
/* crcs[i] = ap_crc32(crc, buf, (i + 1) * block) for i < count, in one pass: the CRCs at the
   ends of `count` blocks of `block` bytes. */
void ap_crc32_blocks(uint32_t crc, const unsigned char *buf, size_t count, size_t block,
                     uint32_t *crcs);
/* The table-driven path alone, for checking the accelerated ones. */
uint32_t ap_crc32_portable(uint32_t crc, const unsigned char *buf, size_t len);

/* The paths, numbered 0 to AP_CRC32_PATHS - 1 on every build: "table", "pclmul",
   "vpclmul256", "vpclmul512", "armv8". */
#define AP_CRC32_PATHS 5
const char *ap_crc32_path_name(int path);
/* Whether this build and this CPU can run the path. */
int ap_crc32_path_available(int path);
/* Use the path from now on, if available (0; otherwise -1 and nothing changes). Not while
   other threads checksum. */
int ap_crc32_use(int path);
/* The name of the path in use. */
const char *ap_crc32_impl(void);
/* ap_crc32, ap_crc32_run and ap_crc32_frames on an available path, whichever is in use: for tests. */
uint32_t ap_crc32_with(int path, uint32_t crc, const unsigned char *buf, size_t len);
size_t ap_crc32_run_with(int path, const unsigned char *run, size_t size, size_t count);
void ap_crc32_frames_with(int path, const unsigned char *const *frames, const size_t *sizes,
                          uint32_t *crcs, size_t count);

#ifdef __cplusplus
}
#endif

#endif
