# Messages of schemas registered at run time: fields read in place through descriptors that
# hold their entry of the schema's offset table, and frames built from the same table.
# Declares nothing that other parts use, so its types stay here.

cdef enum FieldKind:
    KIND_UINT = 0
    KIND_INT
    KIND_U128
    KIND_I128
    KIND_INSTRUMENT_ID
    KIND_BYTES
    KIND_ASCII
    KIND_UTF8_TAIL
    KIND_BYTES_TAIL

_FIELD_KINDS = {
    "uint": KIND_UINT, "int": KIND_INT, "u128": KIND_U128, "i128": KIND_I128,
    "instrument_id": KIND_INSTRUMENT_ID, "bytes": KIND_BYTES, "ascii": KIND_ASCII,
    "utf8_tail": KIND_UTF8_TAIL, "bytes_tail": KIND_BYTES_TAIL,
}

cdef enum:
    _MAX_FIELD_EXTENT = 1 << 30  # offsets and sizes of SchemaField, far above any frame's

# The sizes a field of each kind may have: integers are read with a memcpy into 64 bits.
_FIELD_SIZES = {
    KIND_UINT: (1, 8), KIND_INT: (1, 8), KIND_U128: (16, 16), KIND_I128: (16, 16),
    KIND_INSTRUMENT_ID: (sizeof(InstrumentId_t), sizeof(InstrumentId_t)),
    KIND_BYTES: (0, _MAX_FIELD_EXTENT), KIND_ASCII: (0, _MAX_FIELD_EXTENT),
    KIND_UTF8_TAIL: (0, 0), KIND_BYTES_TAIL: (0, 0),
}


cdef inline uint64_t _read_uint(const uint8_t* data, Py_ssize_t size) noexcept:
    cdef uint64_t value = 0
    memcpy(&value, data, size)
    return value


cdef inline int64_t _read_int(const uint8_t* data, Py_ssize_t size) noexcept:
    cdef uint64_t raw = _read_uint(data, size)
    cdef int shift = 64 - 8 * <int>size
    return (<int64_t>(raw << shift)) >> shift


@cython.final
@cython.auto_pickle(False)  # Cython's would restore the count arrays without __init__'s checks
cdef class SchemaField:
    """A field of a run-time schema: reads its bytes in place from a message's frame.

    A frame too short to hold the field (an earlier version of the schema) gives the
    field's default.
    """

    cdef readonly str name
    cdef readonly Py_ssize_t offset       # in the frame
    cdef readonly Py_ssize_t size
    cdef int kind
    cdef readonly object default
    cdef str where                        # how errors name the field
    cdef int tail_count                   # tails before this one and itself, for a tail
    cdef Py_ssize_t body_end
    cdef Py_ssize_t count_offset[MAX_TAILS]
    cdef Py_ssize_t count_width[MAX_TAILS]

    def __init__(self, str name not None, Py_ssize_t offset, Py_ssize_t size, str kind not None,
                 default, str where not None, Py_ssize_t body_end=0, tuple counts not None=()):
        cdef int field_kind
        cdef Py_ssize_t i
        if kind not in _FIELD_KINDS:
            raise ValueError(f"SchemaField {name!r}: kind {kind!r} is not one of"
                             f" {', '.join(_FIELD_KINDS)}")
        field_kind = _FIELD_KINDS[kind]
        smallest, largest = _FIELD_SIZES[field_kind]
        if not (0 <= offset <= _MAX_FIELD_EXTENT and 0 <= body_end <= _MAX_FIELD_EXTENT
                and smallest <= size <= largest):
            raise ValueError(f"SchemaField {name!r}: a {kind} field of {size} bytes at frame"
                             f" offset {offset} (body end {body_end}) cannot be laid out")
        tail = field_kind == KIND_UTF8_TAIL or field_kind == KIND_BYTES_TAIL
        if tail != (len(counts) > 0) or len(counts) > MAX_TAILS:
            raise ValueError(f"SchemaField {name!r}: a {kind} field takes"
                             f" {f'1 to {MAX_TAILS}' if tail else 'no'} count fields, got {len(counts)}")
        for i, (count_offset, count_width) in enumerate(counts):
            if count_width not in (1, 2, 4) or not 0 <= count_offset <= body_end - count_width:
                raise ValueError(f"SchemaField {name!r}: count field {i} of {count_width} bytes"
                                 f" at frame offset {count_offset} is not a u8, u16 or u32 of"
                                 f" the {body_end}-byte fixed part")
            self.count_offset[i] = count_offset
            self.count_width[i] = count_width
        self.tail_count = len(counts)
        self.name = name
        self.offset = offset
        self.size = size
        self.kind = field_kind
        self.default = default
        self.where = where
        self.body_end = body_end

    def __get__(self, instance, owner):
        if instance is None:
            return self
        cdef Message message = <Message?>instance
        _frame_of(message)
        if self.name is None:
            raise TypeError("this SchemaField was made without its layout (by __new__)")
        if self.tail_count:
            return self._tail(message)
        if self.offset + self.size > message._size:
            return self.default
        return self._value(message._data + self.offset)

    cdef object _value(self, const uint8_t* data):
        cdef ap_u128 wide
        cdef InstrumentId_t iid
        if self.kind == KIND_UINT:
            return _read_uint(data, self.size)
        if self.kind == KIND_INT:
            return _read_int(data, self.size)
        if self.kind == KIND_U128 or self.kind == KIND_I128:
            memcpy(&wide, data, 16)
            return _u128_value(wide, self.kind == KIND_I128)
        if self.kind == KIND_INSTRUMENT_ID:
            memcpy(&iid, data, sizeof(InstrumentId_t))
            return _iid_new(iid)
        if self.kind == KIND_BYTES:
            return _bytes_value(data, self.size)
        return _ascii_value(data, self.size)

    cdef object _tail(self, Message message):
        cdef FrameReader r
        cdef const uint8_t* frame
        cdef const uint8_t* at = NULL
        cdef uint64_t length = 0
        cdef int i
        for i in range(self.tail_count):
            if self.count_offset[i] + self.count_width[i] > message._size:
                return self.default  # a frame of an earlier version, without this tail
        frame = _tail_start(message, &r, self.body_end, self.where)
        for i in range(self.tail_count):  # the tails before this one, then this one
            length = _read_count(frame + self.count_offset[i], <uint8_t>self.count_width[i])
            at = _read(&r, length, ST_TAIL_MISMATCH, self.where, self.count_offset[i])
        if self.kind == KIND_UTF8_TAIL:
            return _utf8_value(at, <Py_ssize_t>length)
        return _bytes_value(at, <Py_ssize_t>length)

    cdef int write(self, uint8_t* frame, object value) except -1:
        """Put `value` into the field's bytes of a frame being built."""
        cdef uint64_t unsigned_value
        cdef int64_t signed_value
        cdef ap_u128 wide
        cdef InstrumentId_t iid
        cdef uint8_t* dest = frame + self.offset
        if self.kind == KIND_UINT:
            unsigned_value = _uint_arg(value, UINT64_MAX >> (64 - 8 * self.size), self.where)
            memcpy(dest, &unsigned_value, self.size)
        elif self.kind == KIND_INT:
            signed_value = _int_arg(value, INT64_MIN >> (64 - 8 * self.size),
                                    INT64_MAX >> (64 - 8 * self.size), self.where)
            memcpy(dest, &signed_value, self.size)
        elif self.kind == KIND_U128 or self.kind == KIND_I128:
            wide = _u128_arg(value, self.kind == KIND_I128, self.where)
            memcpy(dest, &wide, 16)
        elif self.kind == KIND_INSTRUMENT_ID:
            iid = _iid_arg(value, self.where)
            memcpy(dest, &iid, sizeof(InstrumentId_t))
        elif self.kind == KIND_BYTES:
            _bytes_arg(value, dest, self.size, self.where)
        else:
            _ascii_arg(value, dest, self.size, self.where)
        return 0

    def __repr__(self):
        return f"SchemaField({self.name!r}, frame offset {self.offset}, {self.size} bytes)"


cdef class RuntimeMessage(Message):
    """A message of a schema registered at run time (see alphapulse_codec.Schema).

    Subclasses are made by the registry, one per schema; their fields are SchemaField
    descriptors. Build one with keyword arguments, as the built-in messages.
    """

    def __init__(self, **fields):
        self._own(build_runtime_frame(type(self), fields))

    @classmethod
    def encode(cls, **fields):
        """The sealed frame of these fields as bytes, without creating a message."""
        return build_runtime_frame(cls, fields)

    def replace(self, **changes):
        """A new message of this class with this one's fields and header, except `changes`
        (at this class's version, whichever version the frame was)."""
        cls = type(self)
        names = cls._plan_header_names
        header = self.header
        values = {field.name: getattr(self, field.name) for field in cls._plan_fields}
        values.update({field.name: getattr(self, field.name) for field in cls._plan_tails})
        for name in HEADER_BUILDER_FIELDS:
            if name != "version":  # the class's own
                values[names[name]] = getattr(header, name)
        values.update(changes)
        return cls(**values)

    @property
    def unseen_bytes(self):
        """Payload bytes of a later version that this message's schema does not describe."""
        self._read_layout()
        return max(0, self._size - AP_HEADER_SIZE - self._body_size) if self._extra == EXTRA_UNSEEN else 0

    @property
    def defaulted_fields(self):
        """Fields that an earlier version's frame does not hold: they read as their defaults."""
        return tuple(f.name for f in type(self)._plan_fields if f.offset + f.size > self._size)


cdef bytes build_runtime_frame(object cls, dict values):
    """The sealed frame of a run-time schema's message class from keyword arguments."""
    cdef tuple fields = cls._plan_fields
    cdef tuple tails = cls._plan_tails
    cdef Py_ssize_t body_end = cls._plan_body_end
    cdef Py_ssize_t size = body_end, length, i
    cdef uint64_t maximum
    cdef SchemaField field
    cdef list tail_bytes = []
    cdef bytes frame, raw
    cdef uint8_t* data
    cdef MessageHeader_t* header
    layout = cls.layout
    # the plan is a class attribute that a subclass can replace: bound every write by the frame
    if not AP_HEADER_SIZE <= body_end <= _MAX_FIELD_EXTENT:
        raise TypeError(f"{cls.__name__}: a fixed part of {body_end} bytes cannot be built")
    for field in fields:
        if field.name is None or field.tail_count or field.offset + field.size > body_end:
            raise TypeError(f"{cls.__name__}: {field!r} is not a fixed field of its"
                            f" {body_end}-byte fixed part")
    for field in tails:
        if not field.tail_count or (field.count_offset[field.tail_count - 1]
                                    + field.count_width[field.tail_count - 1] > body_end):
            raise TypeError(f"{cls.__name__}: {field!r} is not a tail whose count field is in its"
                            f" {body_end}-byte fixed part")
    unknown = set(values) - cls._plan_accepts
    if unknown:
        name = sorted(unknown)[0]
        raise FieldValueError(f"{layout.name}: unknown field {name!r}", field=name)
    for field in tails:
        value = values.get(field.name, field.default)
        maximum = UINT64_MAX >> (64 - 8 * field.count_width[field.tail_count - 1])
        raw = (_utf8_tail(value, maximum, field.where) if field.kind == KIND_UTF8_TAIL
               else _bytes_tail(value, maximum, field.where))
        tail_bytes.append(raw)
        size += len(raw)
    frame = _new_frame(size)
    data = <uint8_t*>PyBytes_AS_STRING(frame)
    for field in fields:
        field.write(data, values.get(field.name, field.default))
    size = body_end
    for i in range(len(tails)):
        field = tails[i]
        raw = tail_bytes[i]
        length = len(raw)
        memcpy(data + field.count_offset[field.tail_count - 1], &length,
               field.count_width[field.tail_count - 1])
        memcpy(data + size, PyBytes_AS_STRING(raw), length)
        size += length
    header = <MessageHeader_t*>data
    names = cls._plan_header_names
    header.sequence = _uint_arg(values.get(names["sequence"], 0), UINT64_MAX, "header sequence")
    header.timestamp = _uint_arg(values.get(names["timestamp"], 0), UINT64_MAX, "header timestamp")
    header.source = <uint8_t>_uint_arg(values.get(names["source"], 0), 0xFF, "header source")
    header.flags = <uint8_t>_uint_arg(values.get(names["flags"], 0), 0xFF, "header flags")
    version = values.get(names["version"], cls.schema.version)
    if version != cls.schema.version:
        raise FieldValueError(f"{layout.name}: version {version!r} given to the class of version"
                              f" {cls.schema.version}", field="version")
    header.version = <uint8_t>cls.schema.version
    _seal(frame, <uint8_t>cls.schema.message_type, layout.name)
    return frame


def _view_as(buffer, cls, int version, bint verify=True, max_frame_size=None, registry=None):
    """A message of class `cls` (of schema `version`) over the one frame of `buffer`, checked
    as the registry reads it: a frame of another version of the same type."""
    if not (isinstance(cls, type) and issubclass(cls, Message)):
        raise TypeError(f"_view_as: expected a message class, got {cls!r}")
    cdef Message message = decode(buffer, verify, max_frame_size=max_frame_size, registry=registry)
    if _fixed_part(cls) > message._size:
        raise LengthMismatchError(
            f"{cls.__name__} reads a fixed part of {_fixed_part(cls)} bytes, the frame has"
            f" {message._size}", offset=8, field="payload_size")
    cdef Message view = (<PyTypeObject*>cls).tp_new(cls, <PyObject*>_EMPTY_TUPLE, NULL)
    view._owner = message
    view._data = message._data
    view._size = message._size
    layout = cls.layout
    view._body_size = layout.body_size
    if message._size - AP_HEADER_SIZE > view._body_size and message._data[5] > version:
        view._extra = EXTRA_UNSEEN
    else:
        view._extra = EXTRA_TLV if layout.carries_tlv and message._extra == EXTRA_TLV else EXTRA_NONE
    return view
