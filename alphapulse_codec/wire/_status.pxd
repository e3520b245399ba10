# Declarations of _status.pxi: the Status of a nogil check and the Problem it fills in.

cdef enum Status:
    OK = 0
    ST_TRUNCATED
    ST_BAD_MAGIC
    ST_TOO_LARGE
    ST_UNKNOWN_TYPE
    ST_UNKNOWN_VERSION
    ST_CHECKSUM
    ST_SHORT_BODY
    ST_TAIL_MISMATCH
    ST_TRAILING
    ST_TLV_OVERRUN
    ST_TLV_LENGTH
    ST_TLV_POSITION
    ST_SCHEMA_CONFLICT


cdef struct Problem:
    Status status
    Py_ssize_t offset          # where in the input the problem was found
    Py_ssize_t frame_offset    # where the frame it belongs to starts
    uint64_t expected
    uint64_t actual


cdef inline Status _fail(Problem* p, Status status, Py_ssize_t offset,
                         uint64_t expected, uint64_t actual) noexcept nogil:
    p.status = status
    p.offset = offset
    p.expected = expected
    p.actual = actual
    return status


cdef object problem_error(const Problem* p)
