# Frames: the nogil checks, sealing, and the Message view over a frame. Declarations, and the
# inline frame check the batch loop shares: _frame.pxd.

cdef uint8_t _TLV_PAYLOAD_SIZE[256]  # exact payload length of the known TLV types, 0 if unknown


cdef Status walk_tlvs(const uint8_t* area, Py_ssize_t size, Py_ssize_t base,
                      Problem* p) noexcept nogil:
    """Check that TLVs tile the area exactly and known types have their layout's length."""
    cdef Py_ssize_t pos = 0
    cdef uint8_t tlv_type, length
    while pos < size:
        if size - pos < 2:
            return _fail(p, ST_TLV_OVERRUN, base + pos, 2, size - pos)
        tlv_type = area[pos]
        length = area[pos + 1]
        if 2 + length > size - pos:
            return _fail(p, ST_TLV_OVERRUN, base + pos, 2 + length, size - pos)
        if _TLV_PAYLOAD_SIZE[tlv_type] and length != _TLV_PAYLOAD_SIZE[tlv_type]:
            return _fail(p, ST_TLV_LENGTH, base + pos, _TLV_PAYLOAD_SIZE[tlv_type],
                         (<uint64_t>tlv_type << 8) | length)
        pos += 2 + length
    return OK


cdef Status _check_tlv_position(const uint8_t* field, Py_ssize_t area_start, Py_ssize_t area_size,
                                Py_ssize_t base, Problem* p) noexcept nogil:
    cdef uint16_t offset, length
    memcpy(&offset, field, 2)
    memcpy(&length, field + 2, 2)
    cdef uint64_t expected_offset = area_start if area_size else 0
    if offset != expected_offset or length != area_size:
        return _fail(p, ST_TLV_POSITION, base, (<uint64_t>offset << 16) | length,
                     (expected_offset << 16) | <uint64_t>area_size)
    return OK


cdef int _seal(bytes frame, uint8_t message_type, str name) except -1:
    """Finish a built frame whose header fields are set: magic, type, payload_size, checksum."""
    cdef uint8_t* data = <uint8_t*>PyBytes_AS_STRING(frame)
    cdef MessageHeader_t* header = <MessageHeader_t*>data
    cdef Py_ssize_t size = PyBytes_GET_SIZE(frame)
    if <uint64_t>(size - AP_HEADER_SIZE) > <uint64_t>0xFFFFFFFF:  # compared in C, not as ints
        raise FieldValueError(f"{name}: a payload of {size - AP_HEADER_SIZE} bytes does not fit"
                              " payload_size", field="payload_size")
    header.magic = AP_MAGIC
    header.message_type = message_type
    header.payload_size = <uint32_t>(size - AP_HEADER_SIZE)
    header.checksum = ap_crc32_frame(data, size)
    return 0


cdef bytes _new_frame(Py_ssize_t size):
    cdef bytes frame = PyBytes_FromStringAndSize(NULL, size)
    memset(PyBytes_AS_STRING(frame), 0, size)
    return frame


cdef bytes _tlv_bytes(object tlvs):
    # the path of _tlv_area (_frame.pxd) that has TLVs to join, out of line because it needs
    # the module's Python names
    parts = []
    for item in tlvs:
        if not isinstance(item, TLV):
            raise FieldValueError(
                f"tlv: expected TLV objects (PoolAddressTLV, RawTLV, ...), got {type(item).__name__}",
                field="tlv")
        parts.append(item.to_bytes())
    return b"".join(parts)


cdef Py_ssize_t _fixed_part(object cls) except -1:
    """Bytes of a frame that the getters of message class `cls` read without checking the
    frame's size: the fixed part of the generated classes among its bases (SchemaField, the
    getter of run-time schemas, checks every read)."""
    cdef Py_ssize_t size = 0
    for base in cls.__mro__:
        if base in _GENERATED_CLASSES:
            size = max(size, AP_HEADER_SIZE + base.layout.body_size)
    return size


cdef int _no_frame(object message) except -1:
    # the error path of _frame_of (_frame.pxd) and _header_of
    if isinstance(message, Header):
        raise TypeError("this Header was made without a message (by Header.__new__): headers"
                        " come from message.header")
    name = type(message).__name__
    raise TypeError(f"this {name} was made without a frame (by {name}.__new__): build one with"
                    f" {name}(...) or decode one")


cdef int _read_overrun(const FrameReader* r, uint64_t length, Status kind, str where,
                       Py_ssize_t announced_at) except -1:
    # the error path of _read and _reader_at (_frame.pxd)
    cdef Py_ssize_t left = r.end - r.position
    if kind == ST_TLV_OVERRUN:
        raise TLVError(
            f"TLV at byte {announced_at} needs {length} bytes from byte {r.position}, but its"
            f" frame as decoded ends at byte {r.end}, {left} bytes later: the buffer changed"
            " after decode", offset=announced_at, field="tlv")
    if kind == ST_SHORT_BODY:
        raise LengthMismatchError(
            f"{where}: the {r.end}-byte frame is shorter than the {length}-byte fixed part its"
            " class reads", offset=announced_at, field="payload_size")
    raise LengthMismatchError(
        f"{where}: the count at byte {announced_at} announces {length} bytes from byte"
        f" {r.position}, past the end of the {r.end}-byte frame as decoded ({left} bytes left):"
        " the buffer changed after decode, or holds a frame of another layout",
        offset=announced_at, field=where.rpartition(".")[2])


cdef inline const MessageHeader_t* _header_of(Header header) except NULL:
    if header._data is NULL:
        _no_frame(header)
    return <const MessageHeader_t*>header._data


@cython.no_gc
@cython.freelist(8)
cdef class Header:
    """The 32-byte header of a frame, read in place."""

    @property
    def magic(self):
        return _header_of(self).magic

    @property
    def message_type(self):
        return _header_of(self).message_type

    @property
    def version(self):
        return _header_of(self).version

    @property
    def source(self):
        return _header_of(self).source

    @property
    def flags(self):
        return _header_of(self).flags

    @property
    def payload_size(self):
        return _header_of(self).payload_size

    @property
    def sequence(self):
        return _header_of(self).sequence

    @property
    def timestamp(self):
        return _header_of(self).timestamp

    @property
    def checksum(self):
        return _header_of(self).checksum

    def __repr__(self):
        return "Header(" + ", ".join(
            f"{name}={getattr(self, name)}" for name in HEADER_FIELD_NAMES) + ")"

    def __reduce__(self):
        # a copy of its 32 bytes: what it views may be a buffer that cannot be pickled
        return _header_from_bytes, (PyBytes_FromStringAndSize(
            <const char*>_header_of(self), AP_HEADER_SIZE),)


def _header_from_bytes(bytes data not None):
    """The Header that a pickled Header was (its 32 bytes)."""
    if len(data) != AP_HEADER_SIZE:
        raise ValueError(f"a Header is {AP_HEADER_SIZE} bytes, got {len(data)}")
    cdef Header header = Header.__new__(Header)
    header._owner = data
    header._data = <const uint8_t*>PyBytes_AS_STRING(data)
    return header


@cython.final
@cython.no_gc
cdef class _BufferLease:
    """A buffer export that messages viewing the buffer hold; released with the last of them.
    Kept out of Message so that a message needs no __dealloc__ (whose exception-state guard
    costs as much as the rest of freeing it)."""

    def __dealloc__(self):
        PyBuffer_Release(&self.view)


@cython.no_gc
@cython.freelist(16)
cdef class Message:
    """A frame of one message type: its fields are read in place from the frame's bytes.

    Decoded messages view the caller's buffer without copying it (a buffer such as a
    bytearray stays locked against resizing while the message lives); built messages own
    their sealed frame. Messages are immutable.
    """

    cdef int _own(self, bytes frame) except -1:
        if self._data is not NULL:
            raise TypeError(f"{type(self).__name__} messages are immutable: __init__ cannot"
                            " rebuild one")
        self._owner = frame
        self._data = <const uint8_t*>PyBytes_AS_STRING(frame)
        self._size = len(frame)
        return 0

    @property
    def header(self):
        """The frame's header, read in place (the same object on every access)."""
        cdef const uint8_t* data = _frame_of(self)
        cdef Header header = self._header
        if header is None:
            header = Header.__new__(Header)
            header._owner = self._owner
            header._data = data
            self._header = header
        return header

    # The header's fields, flat: Trade's body field `flags` and DeFiSignal's `version` hide
    # the header's, which header_flags and header_version read on every message.

    @property
    def magic(self):
        return (<const MessageHeader_t*>_frame_of(self)).magic

    @property
    def message_type(self):
        return (<const MessageHeader_t*>_frame_of(self)).message_type

    @property
    def version(self):
        return (<const MessageHeader_t*>_frame_of(self)).version

    @property
    def header_version(self):
        return (<const MessageHeader_t*>_frame_of(self)).version

    @property
    def source(self):
        return (<const MessageHeader_t*>_frame_of(self)).source

    @property
    def flags(self):
        return (<const MessageHeader_t*>_frame_of(self)).flags

    @property
    def header_flags(self):
        return (<const MessageHeader_t*>_frame_of(self)).flags

    @property
    def payload_size(self):
        return (<const MessageHeader_t*>_frame_of(self)).payload_size

    @property
    def sequence(self):
        return (<const MessageHeader_t*>_frame_of(self)).sequence

    @property
    def timestamp(self):
        return (<const MessageHeader_t*>_frame_of(self)).timestamp

    @property
    def checksum(self):
        return (<const MessageHeader_t*>_frame_of(self)).checksum

    @property
    def size(self):
        """Bytes of the whole frame."""
        _frame_of(self)
        return self._size

    def to_bytes(self):
        """The sealed frame (the same object each time for a built message)."""
        cdef const uint8_t* data = _frame_of(self)
        if PyBytes_CheckExact(self._owner) and len(self._owner) == self._size:
            return self._owner
        return PyBytes_FromStringAndSize(<const char*>data, self._size)

    def __bytes__(self):
        return self.to_bytes()

    cdef int _read_layout(self) except -1:
        """Body size and Extra of a built message, from its class's layout."""
        if self._extra == EXTRA_UNKNOWN:
            layout = type(self).layout
            self._body_size = layout.body_size
            self._extra = EXTRA_TLV if layout.carries_tlv else EXTRA_NONE
        return 0

    cdef tuple _tlv_bounds(self):
        self._read_layout()
        if self._extra != EXTRA_TLV:
            return (0, 0)
        return (32 + self._body_size, self._size)

    @property
    def tlv(self):
        """The TLV extensions after a fixed body, in wire order (empty for variable bodies)."""
        cdef const uint8_t* data = _frame_of(self)
        start, end = self._tlv_bounds()
        return _tlvs_of(data, start, end)

    def find_tlv(self, tlv_type):
        """The first TLV extension of `tlv_type`, or None."""
        cdef const uint8_t* data = _frame_of(self)
        start, end = self._tlv_bounds()
        return _find_tlv_of(data, start, end, tlv_type)

    def fields(self):
        """The body fields as a dict (padding left out), tails included."""
        layout = type(self).layout
        names = [f.name for f in layout.value_fields] + [t.name for t in layout.tail]
        return {name: getattr(self, name) for name in names}

    cdef dict _asdict(self):
        # the generic form, for types without a generated one (run-time schemas)
        body = self.fields()
        header = self.header
        values = {f"header_{name}" if name in body else name: getattr(header, name)
                  for name in HEADER_FIELD_NAMES}
        values.update(body)
        return values

    cdef tuple _astuple(self):
        return tuple(self._asdict().values())

    def asdict(self):
        """The header's fields then the body's, by their flat names (header_flags where the
        body has a `flags`, ...), in wire order, tails after; TLVs are left out (`.tlv`).
        ``alphapulse_codec.asdict(message)`` is the same, without the method lookup."""
        return self._asdict()

    def astuple(self):
        """The values of asdict(), in its order. ``alphapulse_codec.astuple(message)`` is the
        same, without the method lookup."""
        return self._astuple()

    def replace(self, **changes):
        """A new message with this one's fields, header fields and TLVs, except `changes`."""
        cls = type(self)
        layout = cls.layout
        kwargs = {name: getattr(self, name) for name in layout.builder_fields}
        body = {f.name for f in layout.value_fields}
        for name in HEADER_BUILDER_FIELDS:
            kwargs[f"header_{name}" if name in body else name] = getattr(self.header, name)
        if layout.carries_tlv:
            kwargs["tlv"] = self.tlv
        for name in changes:
            if name not in kwargs:
                raise TypeError(f"{cls.__name__}.replace() got an unexpected keyword argument"
                                f" {name!r}: its fields are {', '.join(kwargs)}")
        kwargs.update(changes)
        return cls(**kwargs)

    def __repr__(self):
        body = ", ".join(f"{name}={value!r}" for name, value in self.fields().items())
        start, end = self._tlv_bounds()
        tlv = f", tlv={list(self.tlv)!r}" if end > start else ""
        return f"{type(self).__name__}({body}{tlv}, header={self.header!r})"

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        cdef Message that = <Message>other
        cdef const uint8_t* data = _frame_of(self)
        cdef const uint8_t* other_data = _frame_of(that)
        return self._size == that._size and memcmp(data, other_data, self._size) == 0

    def __hash__(self):
        # Equal messages must hash equal for as long as they live, and the bytes of a writable
        # buffer can change under a view: such views are not hashable, as memoryview decides.
        cdef const uint8_t* data = _frame_of(self)
        if _views_writable(self):
            raise ValueError(f"cannot hash a {type(self).__name__} that views a writable buffer:"
                             " hash message.to_bytes(), or decode bytes or a read-only buffer")
        return hash(PyBytes_FromStringAndSize(<const char*>data, self._size))

    def __reduce__(self):
        return decode, (self.to_bytes(),)


cdef bint _views_writable(Message message):
    cdef object owner = message._owner
    while isinstance(owner, Message):  # a view made of another message (_view_as)
        owner = (<Message>owner)._owner
    return isinstance(owner, _BufferLease) and not (<_BufferLease>owner).view.readonly


cdef Message _message_view(object owner, Py_buffer* view, const uint8_t* data, Py_ssize_t size,
                           const TypeRule* rule):
    """A message over the checked frame at `data`, of the class of the version that read it
    (`rule`); takes over `view` when given, else `owner` keeps the bytes alive."""
    cdef object cls = <object>rule.cls
    cdef Message message = <Message>(<PyTypeObject*>cls).tp_new(cls, <PyObject*>_EMPTY_TUPLE, NULL)
    cdef _BufferLease lease
    if view is NULL:
        message._owner = owner
    else:
        lease = _BufferLease.__new__(_BufferLease)
        lease.view = view[0]
        message._owner = lease
    message._data = data
    message._size = size
    message._body_size = rule.body_size
    message._extra = rule.extra
    return message


cdef uint64_t _max_size_arg(object max_frame_size) except? 0:
    if max_frame_size is None:
        return DEFAULT_MAX_FRAME_SIZE
    return _uint_arg(max_frame_size, UINT64_MAX, "max_frame_size")


def decode(buffer, bint verify=True, *, max_frame_size=None, registry=None):
    """The message of the one frame that fills `buffer` (any buffer: bytes, memoryview, ...).

    The message is a view: nothing is copied. verify=False skips the CRC check (bounds and
    lengths are always checked). `registry` gives the schemas (the default registry when
    None). Raises a ParseError subclass on any bad input.
    """
    cdef const RuleSet* rules = _rules_of(registry)
    return _decode(buffer, verify, _max_size_arg(max_frame_size), rules)


cdef void* _decode_parsed  # decode's own entry, which parses its arguments


cdef object _decode_entry(object function, PyObject** args, size_t nargsf, PyObject* kwnames):
    # decode(buffer), a service's call on every frame, skips the parsing of three defaults
    if kwnames is NULL and PyVectorcall_NARGS(nargsf) == 1:
        return _decode(<object>args[0], True, DEFAULT_MAX_FRAME_SIZE, _DEFAULT_RULES)
    return ap_vectorcall(_decode_parsed, function, args, nargsf, kwnames)


_decode_parsed = ap_set_vectorcall(decode, <void*>_decode_entry)


cdef Message _decode(object buffer, bint verify, uint64_t limit, const RuleSet* rules):
    cdef Problem problem
    cdef Py_ssize_t frame_size = 0
    cdef const TypeRule* rule
    cdef Py_buffer view
    cdef const uint8_t* data
    cdef Py_ssize_t size
    if PyBytes_CheckExact(buffer):
        data = <const uint8_t*>PyBytes_AS_STRING(buffer)
        size = PyBytes_GET_SIZE(buffer)
        if check_frame(data, size, 0, verify, limit, rules, &frame_size, &rule, &problem):
            raise problem_error(&problem)
        if frame_size != size:
            _fail(&problem, ST_TRAILING, frame_size, frame_size, size - frame_size)
            raise problem_error(&problem)
        return _message_view(buffer, NULL, data, size, rule)
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        if check_frame(<const uint8_t*>view.buf, view.len, 0, verify, limit, rules, &frame_size,
                       &rule, &problem):
            raise problem_error(&problem)
        if frame_size != view.len:
            _fail(&problem, ST_TRAILING, frame_size, frame_size, view.len - frame_size)
            raise problem_error(&problem)
    except BaseException:
        PyBuffer_Release(&view)
        raise
    return _message_view(buffer, &view, <const uint8_t*>view.buf, frame_size, rule)


def astuple(Message message not None):
    """``message.astuple()``: every header and body value in wire order, tails after, in one
    C call; as a function it skips the method lookup (``msgspec.structs.astuple``'s form)."""
    return message._astuple()


def asdict(Message message not None):
    """``message.asdict()``: the same values by their flat names, in one C call."""
    return message._asdict()


@cython.final
cdef class FrameIterator:
    """Iterates the frames of a buffer that holds several back to back."""

    def __cinit__(self, buffer, bint verify=True, max_frame_size=None, registry=None):
        self._rules = _rules_of(registry)
        self._registry = registry  # keeps its rules alive
        self._limit = _max_size_arg(max_frame_size)
        PyObject_GetBuffer(buffer, &self._view, PyBUF_SIMPLE)
        self._owner = buffer
        self._verify = verify

    def __dealloc__(self):
        if self._owner is not None:
            PyBuffer_Release(&self._view)

    def __iter__(self):
        return self

    @property
    def position(self):
        """Byte offset of the next frame."""
        return self._position

    def __next__(self):
        cdef Problem problem
        cdef Py_ssize_t frame_size = 0
        cdef const TypeRule* rule
        cdef Py_buffer view
        cdef const uint8_t* data = <const uint8_t*>self._view.buf + self._position
        if self._done or self._position >= self._view.len:
            raise StopIteration
        if check_frame(data, self._view.len - self._position, self._position, self._verify,
                       self._limit, self._rules, &frame_size, &rule, &problem):
            self._done = True
            raise problem_error(&problem)
        # each message holds its own export, so it outlives this iterator safely
        PyObject_GetBuffer(self._owner, &view, PyBUF_SIMPLE)
        self._position += frame_size
        return _message_view(self._owner, &view, data, frame_size, rule)


def iter_frames(buffer, verify=True, *, max_frame_size=None, registry=None):
    """An iterator over the messages of a buffer of frames back to back.

    Stops with a ParseError subclass at the first bad frame; `.position` tells where.
    """
    return FrameIterator(buffer, verify, max_frame_size, registry)


def layout_offsets():
    """{(C struct, field): (offset, size)} as the C compiler laid the structs out."""
    cdef size_t i
    return {
        (AP_FIELD_INFO[i].struct_name.decode(), AP_FIELD_INFO[i].field.decode()):
            (AP_FIELD_INFO[i].offset, AP_FIELD_INFO[i].size)
        for i in range(AP_FIELD_INFO_COUNT)
    }
