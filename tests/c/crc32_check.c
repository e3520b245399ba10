/* The CRC paths of _c/crc32.c against the table path and a known value, in plain C, for CPUs
   the Python suite cannot reach here: `make check-arm` builds this for ARM64 and runs it under
   QEMU (Debian: gcc-aarch64-linux-gnu, qemu-user-static). */
#include "crc32.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
    static unsigned char data[70000];
    int bad = 0;
    ap_crc32_init();
    srand(3);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)rand();
    for (size_t length = 0; length <= 4096; length++)
        for (int start = 0; start < 8; start += 3)
            bad += ap_crc32(7, data + start, length) != ap_crc32_portable(7, data + start, length);
    bad += ap_crc32(0, data, 65536) != ap_crc32_portable(0, data, 65536);
    bad += ap_crc32(0, (const unsigned char *)"123456789", 9) != 0xCBF43926u;
    for (size_t size = 32; size < 600; size++)
        bad += ap_crc32_frame(data, size) !=
               ap_crc32_portable(ap_crc32_portable(0, data, 28), data + 32, size - 32);
    printf("crc32 path %s: %d mismatches\n", ap_crc32_impl(), bad);
    return bad != 0;
}
