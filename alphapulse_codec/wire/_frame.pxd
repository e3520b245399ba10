# Declarations of _frame.pxi: the frame check every decoder runs, sealing of built frames, and
# the Message view over a frame.

cdef enum:
    DEFAULT_MAX_FRAME_SIZE = 1 << 20  # a frame larger than this is refused unless asked for


cdef class Header:
    # holds what keeps the frame alive, not the message, which caches its Header: a reference
    # back would be a cycle that messages, left out of the garbage collector, never free
    cdef object _owner
    cdef const uint8_t* _data


cdef class Message:
    cdef object _owner         # what keeps _data alive: bytes, a _BufferLease, a message
    cdef const uint8_t* _data
    cdef Py_ssize_t _size
    cdef uint32_t _body_size   # fixed body of the schema that reads the frame
    cdef uint8_t _extra        # an Extra; EXTRA_UNKNOWN until asked for, on built messages
    cdef Header _header        # made on first access, then the same object each time
    cdef InstrumentId _iid     # the InstrumentId last read, given again while its bytes match

    cdef int _own(self, bytes frame) except -1
    cdef int _read_layout(self) except -1
    cdef tuple _tlv_bounds(self)
    cdef tuple _astuple(self)
    cdef dict _asdict(self)


cdef struct FrameReader:
    # A cursor over a frame that reads nothing at or past `end`, the frame's size as checked at
    # decode: counts and TLV lengths are read again from the caller's buffer, which may have
    # changed since (a reused receive buffer), so no read trusts the check made at decode.
    const uint8_t* data
    Py_ssize_t position
    Py_ssize_t end


cdef Py_ssize_t _fixed_part(object cls) except -1
cdef int _no_frame(object message) except -1
cdef int _read_overrun(const FrameReader* r, uint64_t length, Status kind, str where,
                       Py_ssize_t announced_at) except -1


cdef inline const uint8_t* _frame_of(Message message) except NULL:
    """The frame a message views; raises for one made by __new__, which has none."""
    if message._data is NULL:
        _no_frame(message)
    return message._data


cdef inline bint _fast_read_type(object message) noexcept:
    """Whether the generated __getattribute__ of `message` may read fields by name: its type is
    one of the compiled classes, whose names cannot be rebound; a subclass made in Python may
    bind any name to something else."""
    return not (Py_TYPE(message).tp_flags & Py_TPFLAGS_HEAPTYPE)


cdef inline InstrumentId _iid_of(Message message, const InstrumentId_t* value):
    """The InstrumentId at `value` in the message's frame: the message's cached one while it
    still holds these bytes (a writable buffer may change under a view), else the shared one of
    these bytes (_iid_shared), cached."""
    cdef InstrumentId cached = message._iid
    if cached is not None and memcmp(&cached.v, value, sizeof(InstrumentId_t)) == 0:
        return cached
    cached = _iid_shared(value)
    message._iid = cached
    return cached


cdef inline const uint8_t* _read(FrameReader* r, uint64_t length, Status kind, str where,
                                 Py_ssize_t announced_at) except NULL:
    """The next `length` bytes of the frame, announced by the count or TLV at byte
    `announced_at`; `kind` (ST_TAIL_MISMATCH, ST_TLV_OVERRUN) chooses the error when they
    run past the end."""
    cdef const uint8_t* at = r.data + r.position
    if length > <uint64_t>(r.end - r.position):
        _read_overrun(r, length, kind, where, announced_at)
        return NULL
    r.position += <Py_ssize_t>length
    return at


cdef inline int _reader_at(FrameReader* r, const uint8_t* data, Py_ssize_t start, Py_ssize_t end,
                           str where) except -1:
    """Set `r` at `start` of the frame data[0:end]; refuses a start past the end."""
    r.data = data
    r.position = 0
    r.end = end
    if start < 0 or start > end:
        return _read_overrun(r, <uint64_t>start, ST_SHORT_BODY, where, 8)
    r.position = start
    return 0


cdef inline const uint8_t* _tail_start(Message message, FrameReader* r, Py_ssize_t fixed_size,
                                       str where) except NULL:
    """The message's frame, with `r` set after its fixed part of `fixed_size` bytes, where
    the tails begin."""
    cdef const uint8_t* data = _frame_of(message)
    _reader_at(r, data, fixed_size, message._size, where)
    return data


cdef class _BufferLease:
    cdef Py_buffer view


cdef class FrameIterator:
    cdef object _owner
    cdef Py_buffer _view
    cdef Py_ssize_t _position
    cdef bint _verify
    cdef uint64_t _limit
    cdef bint _done
    cdef object _registry
    cdef const RuleSet* _rules


cdef Status walk_tlvs(const uint8_t* area, Py_ssize_t size, Py_ssize_t base,
                      Problem* p) noexcept nogil
cdef Status _check_tlv_position(const uint8_t* field, Py_ssize_t area_start, Py_ssize_t area_size,
                                Py_ssize_t base, Problem* p) noexcept nogil
cdef int _seal(bytes frame, uint8_t message_type, str name) except -1
cdef bytes _new_frame(Py_ssize_t size)
cdef bytes _tlv_bytes(object tlvs)
cdef uint64_t _max_size_arg(object max_frame_size) except? 0


cdef inline uint64_t _read_count(const uint8_t* data, uint8_t width) noexcept nogil:
    cdef uint16_t u16
    cdef uint32_t u32
    if width == 1:
        return data[0]
    if width == 2:
        memcpy(&u16, data, 2)
        return u16
    memcpy(&u32, data, 4)
    return u32


cdef inline Status check_header(const uint8_t* frame, Py_ssize_t available, Py_ssize_t base,
                                uint64_t max_frame_size, const RuleSet* rules,
                                Py_ssize_t* frame_size, const TypeRule** found,
                                Problem* p) noexcept nogil:
    """The checks of check_frame that read the header alone, in O(1): on success the frame's
    `frame_size` bytes are all there, and `found` is the rule that reads them."""
    cdef const MessageHeader_t* header = <const MessageHeader_t*>frame
    cdef const TypeRule* rule
    cdef uint64_t total
    p.frame_offset = base
    if available < <Py_ssize_t>sizeof(MessageHeader_t):
        return _fail(p, ST_TRUNCATED, base + available, sizeof(MessageHeader_t), available)
    if header.magic != AP_MAGIC:
        return _fail(p, ST_BAD_MAGIC, base, AP_MAGIC, header.magic)
    total = sizeof(MessageHeader_t) + <uint64_t>header.payload_size
    if total > max_frame_size:
        return _fail(p, ST_TOO_LARGE, base + 8, max_frame_size, total)
    rule = find_rule(rules, header.message_type, header.version)
    if rule is NULL:
        if ap_load_entry(&rules.types[header.message_type]) is NULL:
            return _fail(p, ST_UNKNOWN_TYPE, base + 4, 0, header.message_type)
        return _fail(p, ST_UNKNOWN_VERSION, base + 5, header.message_type, header.version)
    if rule.conflict:
        return _fail(p, ST_SCHEMA_CONFLICT, base + 5, header.message_type, header.version)
    if total > <uint64_t>available:
        return _fail(p, ST_TRUNCATED, base + available, total, available)
    frame_size[0] = <Py_ssize_t>total
    found[0] = rule
    return OK


cdef inline Status check_body(const uint8_t* frame, Py_ssize_t base, const TypeRule* rule,
                              bint walk, Problem* p) noexcept nogil:
    """The checks of check_frame after the checksum, on a frame that passed check_header.
    O(1) but for the walk of its TLVs, O(its size), left out unless `walk`."""
    cdef const MessageHeader_t* header = <const MessageHeader_t*>frame
    cdef uint64_t total = sizeof(MessageHeader_t) + <uint64_t>header.payload_size
    cdef uint64_t expected
    cdef Py_ssize_t position, area
    cdef int i
    if header.payload_size < rule.body_size:
        return _fail(p, ST_SHORT_BODY, base + 8, rule.body_size, header.payload_size)
    position = sizeof(MessageHeader_t) + rule.body_size
    if <uint64_t>position == total and rule.tail_count == 0 and rule.tlv_position_field < 0:
        return OK  # the common case: a fixed body with nothing after it
    if rule.tail_count:
        expected = rule.body_size
        for i in range(rule.tail_count):
            expected += _read_count(frame + 32 + rule.tail_count_offset[i],
                                    rule.tail_count_width[i]) * rule.tail_element_size[i]
        if expected != header.payload_size:
            return _fail(p, ST_TAIL_MISMATCH, base + 8, expected, header.payload_size)
        return OK
    if rule.extra == EXTRA_UNSEEN:
        return OK
    if rule.extra == EXTRA_NONE:
        if header.payload_size != rule.body_size:
            return _fail(p, ST_TAIL_MISMATCH, base + 8, rule.body_size, header.payload_size)
        return OK
    area = <Py_ssize_t>total - position
    if rule.tlv_position_field >= 0 and _check_tlv_position(
            frame + 32 + rule.tlv_position_field, position, area,
            base + 32 + rule.tlv_position_field, p):
        return p.status
    if not walk:
        return OK
    return walk_tlvs(frame + position, area, base + position, p)


cdef inline Status check_frame(const uint8_t* frame, Py_ssize_t available, Py_ssize_t base,
                               bint verify, uint64_t max_frame_size, const RuleSet* rules,
                               Py_ssize_t* frame_size, const TypeRule** found,
                               Problem* p) noexcept nogil:
    """Validate the frame that starts at `frame`; `base` is its offset in the caller's input.
    On success `found` is the rule it was read by. Inline: the batch loop calls it per frame."""
    cdef uint32_t crc
    cdef Status status = check_header(frame, available, base, max_frame_size, rules,
                                      frame_size, found, p)
    if status:
        return status
    if verify:
        crc = ap_crc32_frame(frame, <size_t>frame_size[0])
        if crc != (<const MessageHeader_t*>frame).checksum:
            return _fail(p, ST_CHECKSUM, base + 28, crc, (<const MessageHeader_t*>frame).checksum)
    return check_body(frame, base, found[0], True, p)


cdef inline bytes _tlv_area(object tlvs):
    if tlvs is _EMPTY_TUPLE:  # the builders' default: no extensions, nothing to look at
        return _EMPTY_BYTES
    if not tlvs:
        return _EMPTY_BYTES
    return _tlv_bytes(tlvs)
