/* Every CRC path of _c/crc32.c this CPU has, against the table path, a bitwise reference and
   a known value, in plain C, for CPUs the Python suite cannot reach here: `make check-arm`
   builds this for ARM64, with and without PMULL folding, and runs it under QEMU (Debian:
   gcc-aarch64-linux-gnu, qemu-user-static). Every frame and buffer checked against the
   reference sits alone at the end of its own allocation, so that a build with
   -fsanitize=address catches any read past its last byte. */
#include "crc32.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME 2100

/* One bit at a time, sharing no code with the library. */
static uint32_t reference(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t reference_frame(const unsigned char *frame, size_t size) {
    return reference(reference(0, frame, AP_CHECKSUM_OFFSET), frame + AP_CHECKSUM_END,
                     size - AP_CHECKSUM_END);
}

/* `size` random bytes ending where their allocation ends, `shift` bytes into it (so that
   frames start at every alignment); release with free(block - shift). */
static unsigned char *random_block(size_t size, size_t shift) {
    unsigned char *block = malloc(size + shift);
    if (!block) {
        perror("malloc");
        exit(2);
    }
    for (size_t i = 0; i < size + shift; i++)
        block[i] = (unsigned char)rand();
    return block + shift;
}

/* A frame size for the grouped checks: mostly short, now and then up to MAX_FRAME. */
static size_t random_size(void) {
    switch (rand() % 4) {
    case 0:
        return AP_CHECKSUM_END + (size_t)rand() % 64;
    case 1:
        return AP_CHECKSUM_END + 4 + (size_t)rand() % 400;
    case 2:
        return 64 + 16 * (size_t)(rand() % 4);
    default:
        return AP_CHECKSUM_END + (size_t)rand() % (MAX_FRAME - AP_CHECKSUM_END + 1);
    }
}

/* The mismatches of the path in use. */
static int check_path(const unsigned char *data, size_t data_size) {
    int bad = 0;
    for (size_t length = 0; length <= 4096; length++)
        for (int start = 0; start < 8; start += 3)
            bad += ap_crc32(7, data + start, length) != ap_crc32_portable(7, data + start, length);
    bad += ap_crc32(0, data, data_size) != ap_crc32_portable(0, data, data_size);
    bad += ap_crc32(0, (const unsigned char *)"123456789", 9) != 0xCBF43926u;
    for (size_t length = 0; length <= 700; length++) {
        unsigned char *buf = random_block(length, length % 5);
        bad += ap_crc32(0x12345678u, buf, length) != reference(0x12345678u, buf, length);
        free(buf - length % 5);
    }

    for (size_t size = AP_CHECKSUM_END; size <= MAX_FRAME; size++)
        for (size_t shift = 0; shift < 16; shift += 5) {
            unsigned char *frame = random_block(size, shift);
            uint32_t expected = reference_frame(frame, size);
            bad += ap_crc32_frame(frame, size) != expected;
            memset(frame + AP_CHECKSUM_OFFSET, rand() & 0xFF, 4);   /* not part of the sum */
            bad += ap_crc32_frame(frame, size) != expected;
            free(frame - shift);
        }

    for (int round = 0; round < 20000; round++) {
        size_t count = 1 + (size_t)round % 8, shift[8], sizes[8];
        const unsigned char *frames[8];
        uint32_t crcs[8];
        for (size_t i = 0; i < count; i++) {
            shift[i] = (size_t)rand() % 16;
            sizes[i] = random_size();
            frames[i] = random_block(sizes[i], shift[i]);
        }
        ap_crc32_frames(frames, sizes, crcs, count);
        for (size_t i = 0; i < count; i++) {
            bad += crcs[i] != reference_frame(frames[i], sizes[i]);
            free((void *)(frames[i] - shift[i]));
        }
    }

    /* the run check: frames of one size back to back, sealed, one of them broken or none */
    for (size_t size = AP_CHECKSUM_END; size <= 600; size += 1 + size / 40) {
        for (size_t count = 1; count <= 11; count += 2) {
            unsigned char *run = random_block(size * count, count % 3);
            for (size_t i = 0; i < count; i++) {
                uint32_t sum = reference_frame(run + i * size, size);
                memcpy(run + i * size + AP_CHECKSUM_OFFSET, &sum, 4);
            }
            bad += ap_crc32_run(run, size, count) != count;
            size_t broken = (size_t)rand() % count;
            run[broken * size + (size_t)rand() % AP_CHECKSUM_OFFSET] ^= 0x20;
            bad += ap_crc32_run(run, size, count) != broken;
            free(run - count % 3);
        }
    }
    return bad;
}

int main(void) {
    static unsigned char data[70000];
    int bad = 0;
    ap_crc32_init();
    const char *chosen = ap_crc32_impl();
    srand(3);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)rand();
    for (int path = 0; path < AP_CRC32_PATHS; path++) {
        if (ap_crc32_use(path) != 0)
            continue;
        int path_bad = check_path(data, sizeof data);
        printf("crc32 path %s%s: %d mismatches\n", ap_crc32_path_name(path),
               strcmp(ap_crc32_path_name(path), chosen) == 0 ? " (chosen)" : "", path_bad);
        bad += path_bad;
    }
    return bad != 0;
}
