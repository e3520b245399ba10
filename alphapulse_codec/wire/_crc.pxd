cdef extern from "crc32.h" nogil:
    enum: AP_CRC32_PATHS
    void ap_crc32_init()
    unsigned int ap_crc32(unsigned int crc, const unsigned char *buf, size_t length)
    unsigned int ap_crc32_frame(const unsigned char *frame, size_t size)
    void ap_crc32_frames(const unsigned char **frames, const size_t *sizes, unsigned int *crcs,
                         size_t count)
    size_t ap_crc32_run(const unsigned char *run, size_t size, size_t count)
    unsigned int ap_crc32_portable(unsigned int crc, const unsigned char *buf, size_t length)
    const char *ap_crc32_path_name(int path)
    int ap_crc32_path_available(int path)
    int ap_crc32_use(int path)
    const char *ap_crc32_impl()
    unsigned int ap_crc32_with(int path, unsigned int crc, const unsigned char *buf, size_t length)
    size_t ap_crc32_run_with(int path, const unsigned char *run, size_t size, size_t count)
    void ap_crc32_frames_with(int path, const unsigned char **frames, const size_t *sizes,
                              unsigned int *crcs, size_t count)


cdef extern from "crc_combine.h" nogil:
    ctypedef struct ap_crc_ranges:
        int portable
        size_t hashed
    void ap_crc_combine_init()
    void ap_crc_ranges_free(ap_crc_ranges *ranges)
    int ap_crc32_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length,
                      size_t at, size_t size, unsigned int crc, unsigned int *result)
    int ap_crc32_frame_span(ap_crc_ranges *ranges, const unsigned char *data, size_t length,
                            size_t at, size_t size, unsigned int *result)
    const char *ap_crc_combine_impl()
