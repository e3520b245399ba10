cdef extern from "crc32.h" nogil:
    void ap_crc32_init()
    unsigned int ap_crc32(unsigned int crc, const unsigned char *buf, size_t length)
    unsigned int ap_crc32_frame(const unsigned char *frame, size_t size)
    void ap_crc32_frames(const unsigned char **frames, const size_t *sizes, unsigned int *crcs,
                         size_t count)
    unsigned int ap_crc32_portable(unsigned int crc, const unsigned char *buf, size_t length)
    const char *ap_crc32_impl()
