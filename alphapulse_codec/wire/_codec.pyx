"""The compiled core: frame checks, CRC-32, InstrumentId and the typed message classes.

The checks run as nogil C functions that return a Status; a failed Status becomes an
exception once, under the GIL, in problem_error (_status.pxi).

The parts included below hold implementations; what one part uses of another is declared in
_codec.pxd and the declaration files it includes. Their order still sets the order in
which their module-level statements run at import.
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)
from cpython.long cimport PyLong_Check, PyLong_FromLong
from cpython.object cimport PyObject_GenericGetAttr, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport (INT64_MAX, INT64_MIN, UINT64_MAX, int8_t, int16_t, int32_t, int64_t, uint8_t,
                          uint16_t, uint32_t, uint64_t)
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset

from alphapulse_codec.wire._crc cimport (ap_crc32, ap_crc32_frame, ap_crc32_frames, ap_crc32_impl,
                                   ap_crc32_run,
                                   ap_crc32_init, ap_crc32_portable, ap_crc32_frame_span,
                                   ap_crc32_span, ap_crc_combine_impl, ap_crc_combine_init,
                                   ap_crc_ranges, ap_crc_ranges_free)
from alphapulse_codec.wire._wire cimport *

cdef extern from "Python.h":
    str PyUnicode_DecodeLatin1(const char* data, Py_ssize_t size, const char* errors)

from collections import namedtuple
from operator import index as operator_index

from .canonical import check_canonical_json
from .enums import AssetType, MessageType, TLVType, VenueId
from .errors import (BadMagicError, ChecksumError, FieldValueError, FrameTooLargeError,
                     LengthMismatchError, MissingFieldError, SchemaConflictError, TLVError,
                     TruncatedError, UnknownMessageTypeError, UnknownVersionError)
from .layouts import HEADER, MESSAGES, TLVS
from .tlv import TLV, tlv_from_wire

BookLevel = namedtuple("BookLevel", ["price", "size"])
BookLevel.__doc__ = "One OrderBook level: price (i64, fixed-point) and size (u64)."
HEADER_FIELD_NAMES = tuple(f.name for f in HEADER.fields)
HEADER_BUILDER_FIELDS = ("sequence", "timestamp", "source", "version", "flags")
_EMPTY_TUPLE = ()
_EMPTY_BYTES = b""

include "_status.pxi"
include "_checksum.pxi"
include "_convert.pxi"
include "_ids.pxi"
include "_rules.pxi"
include "_frame.pxi"
include "_tlv.pxi"
include "_messages.pxi"
include "_runtime.pxi"
include "_batch.pxi"


def _check_generated_from_current_layouts():
    from .stamp import layout_sources_hash

    current = layout_sources_hash()
    if current != GENERATED_FROM:
        raise ImportError(
            f"alphapulse_codec.wire._codec was generated from layout sources {GENERATED_FROM},"
            f" but layouts.py and enums.py now hash to {current}: run `make generate` and rebuild")


_check_generated_from_current_layouts()


def _init_tables():
    ap_crc32_init()
    ap_crc_combine_init()
    for tlv_type, layout in TLVS.items():
        _TLV_PAYLOAD_SIZE[int(tlv_type)] = layout.payload_size


_init_tables()

# The classes whose getters read their fixed part unchecked (_fixed_part); a set of its own,
# since MESSAGE_CLASSES is exported and may be changed.
_GENERATED_CLASSES = frozenset(MESSAGE_CLASSES.values())

globals()["DEFAULT_MAX_FRAME_SIZE"] = DEFAULT_MAX_FRAME_SIZE
globals()["DEFAULT_RULE_TABLE"] = DEFAULT_RULE_TABLE
globals()["EXTRA_KINDS"] = {"tlv": EXTRA_TLV, "none": EXTRA_NONE, "unseen": EXTRA_UNSEEN}
