# Declarations of _tlv.pxi: the TLV extensions of a checked area, as Python objects.

cdef list _tlvs_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end)
cdef object _find_tlv_of(const uint8_t* data, Py_ssize_t start, Py_ssize_t end, object tlv_type)
