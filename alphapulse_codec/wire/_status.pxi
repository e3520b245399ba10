# The one conversion of a failed Status into an exception, under the GIL, and the names of
# the statuses in batch reports. Declarations: _status.pxd.

# The kind of a bad stretch in a batch decode, by the status that ended its first frame.
STATUS_KINDS = {
    ST_TRUNCATED: "truncated", ST_BAD_MAGIC: "bad_magic", ST_TOO_LARGE: "too_large",
    ST_UNKNOWN_TYPE: "unknown_type", ST_UNKNOWN_VERSION: "unknown_version",
    ST_CHECKSUM: "checksum_mismatch", ST_SHORT_BODY: "length_mismatch",
    ST_TAIL_MISMATCH: "length_mismatch", ST_TRAILING: "length_mismatch",
    ST_TLV_OVERRUN: "bad_tlv", ST_TLV_LENGTH: "bad_tlv", ST_TLV_POSITION: "bad_tlv",
    ST_SCHEMA_CONFLICT: "schema_conflict",
}


cdef str _type_name(uint64_t message_type):
    try:
        return MessageType(message_type).name
    except ValueError:
        return f"type {message_type}"


cdef object problem_error(const Problem* p):
    """The exception that describes a failed check."""
    cdef Py_ssize_t at = p.offset
    cdef Py_ssize_t frame = p.frame_offset
    cdef str where = f"frame at byte {frame}"
    if p.status == ST_TRUNCATED:
        return TruncatedError(
            f"truncated: {where} needs {p.expected} bytes, the input holds {p.actual}",
            offset=at, frame_offset=frame)
    if p.status == ST_BAD_MAGIC:
        return BadMagicError(
            f"bad magic at byte {at}: expected 0xDEADBEEF (bytes EF BE AD DE), got 0x{p.actual:08X}",
            offset=at, frame_offset=frame, field="magic")
    if p.status == ST_TOO_LARGE:
        return FrameTooLargeError(
            f"frame too large: payload_size at byte {at} announces a frame of {p.actual} bytes,"
            f" over the maximum of {p.expected}", offset=at, frame_offset=frame, field="payload_size")
    if p.status == ST_UNKNOWN_TYPE:
        return UnknownMessageTypeError(
            f"unknown message type {p.actual} at byte {at} ({where})",
            offset=at, frame_offset=frame, field="message_type")
    if p.status == ST_UNKNOWN_VERSION:
        return UnknownVersionError(
            f"unknown version {p.actual} of {_type_name(p.expected)} at byte {at}: no schema of"
            f" the registry reads it", offset=at, frame_offset=frame, field="version")
    if p.status == ST_CHECKSUM:
        return ChecksumError(
            f"checksum mismatch in {where}: field at byte {at} holds 0x{p.actual:08X},"
            f" the frame's CRC-32 is 0x{p.expected:08X}", offset=at, frame_offset=frame,
            field="checksum")
    if p.status == ST_SHORT_BODY:
        return LengthMismatchError(
            f"payload_size {p.actual} at byte {at} is smaller than the {p.expected}-byte body"
            f" of its message type ({where})", offset=at, frame_offset=frame, field="payload_size")
    if p.status == ST_TAIL_MISMATCH:
        return LengthMismatchError(
            f"payload_size {p.actual} at byte {at} disagrees with the body and tail lengths,"
            f" which add up to {p.expected} ({where})", offset=at, frame_offset=frame,
            field="payload_size")
    if p.status == ST_TRAILING:
        return LengthMismatchError(
            f"{p.actual} trailing bytes at byte {at} after a {p.expected}-byte frame"
            " (iter_frames reads several frames)", offset=at, frame_offset=frame)
    if p.status == ST_TLV_OVERRUN:
        return TLVError(
            f"TLV at byte {at} needs {p.expected} bytes, its area has {p.actual} left",
            offset=at, frame_offset=frame, field="tlv")
    if p.status == ST_TLV_LENGTH:
        return TLVError(
            f"TLV {_tlv_name(p.actual >> 8)} at byte {at} has tlv_length {p.actual & 0xFF},"
            f" its layout needs {p.expected}", offset=at, frame_offset=frame, field="tlv")
    if p.status == ST_TLV_POSITION:
        return TLVError(
            f"tlv_offset/tlv_length at byte {at} say {p.expected >> 16}/{p.expected & 0xFFFF},"
            f" the frame's TLV area is {p.actual >> 16}/{p.actual & 0xFFFF}",
            offset=at, frame_offset=frame, field="tlv_offset")
    if p.status == ST_SCHEMA_CONFLICT:
        return SchemaConflictError(
            f"version {p.actual} of {_type_name(p.expected)} at byte {at} was announced with two"
            f" layouts: the registry reads neither ({where})", offset=at, frame_offset=frame,
            field="version")
    raise SystemError(f"status {p.status} has no exception")


cdef str _tlv_name(uint64_t tlv_type):
    try:
        return TLVType(tlv_type).name
    except ValueError:
        return f"type {tlv_type}"
