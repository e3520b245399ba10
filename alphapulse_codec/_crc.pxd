cdef extern from "crc32.h" nogil:
    unsigned int ap_crc32(unsigned int crc, const unsigned char *buf, size_t length)
    unsigned int ap_crc32_portable(unsigned int crc, const unsigned char *buf, size_t length)
    const char *ap_crc32_impl()
