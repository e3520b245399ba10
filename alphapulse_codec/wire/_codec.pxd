# The module's own declarations, which Cython reads before _codec.pyx: each .pxi part uses
# what another part implements through these, not through the order of the includes.
# A declaration file holds one part's types, cdef class layouts and the signatures other parts
# call; an inline function they share stands there with its body, the only way Cython shares
# one. Such a body cannot see the module's Python names (imports, exception classes), so where
# an inline function needs them only on a rare path, that path is a separate cdef function.
from cpython.long cimport PyLong_Check
from cpython.object cimport Py_TPFLAGS_HEAPTYPE, Py_TYPE, PyTypeObject
from cpython.ref cimport PyObject
from libc.stdint cimport UINT64_MAX, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from alphapulse_codec.wire._crc cimport ap_crc32_frame
from alphapulse_codec.wire._wire cimport *

# One instance each, set in _codec.pyx: a builder's default for "no TLVs" is this tuple, which
# _tlv_area recognises by identity.
cdef tuple _EMPTY_TUPLE
cdef bytes _EMPTY_BYTES

include "_status.pxd"
include "_convert.pxd"
include "_ids.pxd"
include "_rules.pxd"
include "_tlv.pxd"
include "_frame.pxd"
