# Declarations of _ids.pxi: InstrumentId, and its conversions from and to the wire struct.

cdef class InstrumentId:
    cdef InstrumentId_t v

    cdef str _describe(self)


cdef InstrumentId _iid_new(InstrumentId_t value)
cdef InstrumentId _iid_shared(const InstrumentId_t* value)
cdef InstrumentId_t _iid_arg(object value, str where) except *
