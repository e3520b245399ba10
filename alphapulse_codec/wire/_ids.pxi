# InstrumentId: the 12-byte bijective instrument identifier, and its packing rules in C.
# Declarations: _ids.pxd.

cdef enum:
    U64_ASSET_BITS = 40


cdef inline uint64_t _pool_asset_id(uint64_t a, uint64_t b) noexcept nogil:
    # the design's formula, kept for compatibility: deterministic, not reversible
    if a > b:
        a, b = b, a
    return (a >> 1) ^ (b << 1)


cdef inline uint64_t _u64_form(const InstrumentId_t* v) noexcept nogil:
    return ((<uint64_t>v.venue) << 48) | ((<uint64_t>v.asset_type) << 40) | (
        v.asset_id & ((1ULL << U64_ASSET_BITS) - 1))


cdef inline bint _u64_form_is_lossless(const InstrumentId_t* v) noexcept nogil:
    return v.reserved == 0 and v.asset_id >> U64_ASSET_BITS == 0


cdef inline uint64_t _big_endian_u64(const uint8_t* data, Py_ssize_t size) noexcept nogil:
    """The first `size` (<= 8) bytes as a big-endian integer, NUL-padded on the right."""
    cdef uint64_t value = 0
    cdef Py_ssize_t i
    for i in range(8):
        value = (value << 8) | (data[i] if i < size else 0)
    return value


cdef bytes _address_bytes(object address, str where):
    if not isinstance(address, str) or len(address) != 42 or not address.startswith(("0x", "0X")):
        raise FieldValueError(
            f"{where}: expected '0x' followed by 40 hex digits, got {address!r}", field=where)
    try:
        return bytes.fromhex(address[2:])
    except ValueError:
        raise FieldValueError(f"{where}: {address!r} is not valid hex", field=where) from None


# a crypto pair in asset_id: the base's length in the top 4 bits, then base and quote, one
# 6-bit code per character ('0'-'9' 1-10, 'A'-'Z' 11-36), left-aligned, zero-filled
cdef enum:
    PAIR_CHARACTERS = 10
    PAIR_CODE_BITS = 6
    PAIR_LENGTH_SHIFT = 60
PAIR_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


cdef uint64_t _pair_asset_id(object base, object quote) except? 0:
    if not isinstance(base, str) or not isinstance(quote, str):
        raise FieldValueError("InstrumentId.crypto: base and quote must be str, got"
                              f" {type(base).__name__} and {type(quote).__name__}", field="pair")
    cdef str pair = (base + quote).upper() if (base + quote).isascii() else "?"
    if (not base or not quote or len(pair) > PAIR_CHARACTERS
            or any(c not in PAIR_ALPHABET for c in pair)):
        raise FieldValueError(
            f"InstrumentId.crypto: {base!r}/{quote!r} must be two non-empty codes of letters"
            f" and digits, {PAIR_CHARACTERS} characters at most together", field="pair")
    cdef uint64_t packed = (<uint64_t>len(base)) << PAIR_LENGTH_SHIFT
    cdef int i
    for i in range(len(pair)):
        packed |= (<uint64_t>(PAIR_ALPHABET.index(pair[i]) + 1)) << (
            PAIR_LENGTH_SHIFT - PAIR_CODE_BITS * (i + 1))
    return packed


cdef tuple _pair_of(uint64_t asset_id):
    cdef list characters = []
    cdef int i, code
    for i in range(PAIR_CHARACTERS):
        code = (asset_id >> (PAIR_LENGTH_SHIFT - PAIR_CODE_BITS * (i + 1))) & 0x3F
        if code == 0 or code > len(PAIR_ALPHABET):
            break
        characters.append(PAIR_ALPHABET[code - 1])
    cdef str pair = "".join(characters)
    cdef int base_length = asset_id >> PAIR_LENGTH_SHIFT
    return pair[:base_length], pair[base_length:]


cdef inline void _hold(PyObject** slot, object value) noexcept:
    Py_INCREF(value)
    Py_XDECREF(slot[0])
    slot[0] = <PyObject*>value


cdef inline void _make_parts(InstrumentId iid) noexcept:
    """The Python ints of iid's parts, which its member descriptors read (see _add_parts)."""
    _hold(&iid._venue, iid.v.venue)
    _hold(&iid._asset_type, iid.v.asset_type)
    _hold(&iid._reserved, iid.v.reserved)
    _hold(&iid._asset_id, iid.v.asset_id)


cdef InstrumentId _iid_new(InstrumentId_t value):
    cdef InstrumentId result = InstrumentId.__new__(InstrumentId)
    result.v = value
    _make_parts(result)
    return result


cdef enum:
    IID_CACHE_SLOTS = 256  # a power of two: the slot is the top bits of a hash


# The InstrumentIds decoded last, one per slot; strong references, NULL while a slot is empty.
cdef PyObject* _IID_CACHE[IID_CACHE_SLOTS]


cdef InstrumentId _iid_shared(const InstrumentId_t* value):
    """The InstrumentId of the 12 bytes at `value`: the one last made for their cache slot when
    its bytes match, else a new one that takes the slot. InstrumentIds are immutable, so
    messages share them; a service sees the same instruments over and over, and reading the
    instrument of a message then allocates nothing."""
    cdef uint64_t mixed = (value.asset_id ^ (<uint64_t>value.venue << 40)
                           ^ (<uint64_t>value.asset_type << 56) ^ value.reserved)
    cdef size_t slot = (mixed * 0x9E3779B97F4A7C15ULL) >> (64 - 8)
    cdef PyObject* cached = _IID_CACHE[slot]
    if cached is not NULL and memcmp(&(<InstrumentId>cached).v, value, sizeof(InstrumentId_t)) == 0:
        return <InstrumentId>cached
    cdef InstrumentId made = _iid_new(value[0])
    Py_INCREF(made)
    _IID_CACHE[slot] = <PyObject*>made
    Py_XDECREF(cached)
    return made


cdef InstrumentId_t _iid_arg(object value, str where) except *:
    cdef InstrumentId_t zero
    if type(value) is InstrumentId:
        return (<InstrumentId>value).v
    if value is None:
        memset(&zero, 0, sizeof(zero))
        return zero
    raise FieldValueError(f"{where}: expected an InstrumentId, got {type(value).__name__}",
                          field=where)


cdef str _enum_name(object enum_type, int value):
    try:
        return enum_type(value).name
    except ValueError:
        return str(value)


cdef object _NOT_GIVEN = object()  # a keyword of InstrumentId() left out


@cython.final
cdef class InstrumentId:
    """A bijective instrument identifier: venue, asset type, reserved byte and 64-bit asset id.

    Build it by keywords, any of them (``InstrumentId(venue=v, asset_type=t, asset_id=n)``,
    the others 0), or by all four values in wire order (``InstrumentId(*iid.astuple())``,
    ``InstrumentId(*row)`` of a decoded dtype row): venue, asset_type, reserved, asset_id.
    Immutable and hashable; equal when all four fields are equal.
    """

    def __init__(self, *wire_order, venue=_NOT_GIVEN, asset_type=_NOT_GIVEN,
                 reserved=_NOT_GIVEN, asset_id=_NOT_GIVEN):
        # partial positional use is refused: (venue, asset_type, asset_id) once was the order,
        # and three values would now fill reserved with an asset id
        if wire_order:
            if len(wire_order) != 4:
                raise TypeError(
                    f"InstrumentId takes all four fields in wire order (venue, asset_type,"
                    f" reserved, asset_id), or keywords; got {len(wire_order)} positional values")
            if (venue is not _NOT_GIVEN or asset_type is not _NOT_GIVEN
                    or reserved is not _NOT_GIVEN or asset_id is not _NOT_GIVEN):
                raise TypeError("InstrumentId takes its fields in wire order or by keyword,"
                                " not both")
            venue, asset_type, reserved, asset_id = wire_order
        else:
            venue = 0 if venue is _NOT_GIVEN else venue
            asset_type = 0 if asset_type is _NOT_GIVEN else asset_type
            reserved = 0 if reserved is _NOT_GIVEN else reserved
            asset_id = 0 if asset_id is _NOT_GIVEN else asset_id
        self.v.venue = <uint16_t>_uint_arg(venue, 0xFFFF, "InstrumentId.venue (u16)")
        self.v.asset_type = <uint8_t>_uint_arg(asset_type, 0xFF, "InstrumentId.asset_type (u8)")
        self.v.reserved = <uint8_t>_uint_arg(reserved, 0xFF, "InstrumentId.reserved (u8)")
        self.v.asset_id = _uint_arg(asset_id, UINT64_MAX, "InstrumentId.asset_id (u64)")
        _make_parts(self)

    def __cinit__(self):
        # an ID made by __new__ alone reads as the zero ID, as its struct is
        _make_parts(self)

    def __dealloc__(self):
        Py_XDECREF(self._venue)
        Py_XDECREF(self._asset_type)
        Py_XDECREF(self._reserved)
        Py_XDECREF(self._asset_id)

    # venue, asset_type, reserved and asset_id: member descriptors added by _add_parts

    @classmethod
    def stock(cls, venue, str symbol not None):
        """A stock: 1 to 8 printable ASCII characters, big-endian into asset_id."""
        if not 1 <= len(symbol) <= 8 or not symbol.isascii() or not symbol.isprintable():
            raise FieldValueError(
                f"InstrumentId.stock: symbol {symbol!r} must be 1 to 8 printable ASCII characters",
                field="symbol")
        cdef bytes raw = symbol.encode("ascii")
        return InstrumentId(venue=venue, asset_type=AssetType.Stock, asset_id=_big_endian_u64(
            <const uint8_t*>PyBytes_AS_STRING(raw), len(raw)))

    @classmethod
    def ethereum_token(cls, address, venue=VenueId.Ethereum):
        """An ERC-20 token: asset_id is the first 8 bytes of its address, big-endian."""
        cdef bytes raw = _address_bytes(address, "InstrumentId.ethereum_token address")
        return InstrumentId(venue=venue, asset_type=AssetType.Token,
                            asset_id=_big_endian_u64(<const uint8_t*>PyBytes_AS_STRING(raw), 8))

    @classmethod
    def pool(cls, dex, InstrumentId token0 not None, InstrumentId token1 not None):
        """A DEX pool named by its two tokens (the design's formula: not reversible)."""
        return InstrumentId(venue=dex, asset_type=AssetType.Pool,
                            asset_id=_pool_asset_id(token0.v.asset_id, token1.v.asset_id))

    @classmethod
    def pool_from_address(cls, dex, address):
        """A DEX pool named by its own contract address: the first 8 bytes, big-endian."""
        cdef bytes raw = _address_bytes(address, "InstrumentId.pool_from_address address")
        return InstrumentId(venue=dex, asset_type=AssetType.Pool,
                            asset_id=_big_endian_u64(<const uint8_t*>PyBytes_AS_STRING(raw), 8))

    @classmethod
    def crypto(cls, venue, base, quote):
        """A crypto pair on an exchange (asset type CryptoSpot): `base` and `quote` codes of
        letters and digits, 10 characters at most together, upper-cased; ``.pair`` reads
        them back."""
        return InstrumentId(venue=venue, asset_type=AssetType.CryptoSpot,
                            asset_id=_pair_asset_id(base, quote))

    @property
    def pair(self):
        """(base, quote) of a crypto pair (meaningful for AssetType.CryptoSpot)."""
        return _pair_of(self.v.asset_id)

    def to_u64(self):
        """The design's 64-bit form; refuses an ID it cannot hold without losing bits."""
        if not _u64_form_is_lossless(&self.v):
            lost = "reserved byte" if self.v.reserved else f"asset_id 0x{self.v.asset_id:x}"
            raise FieldValueError(
                f"{self!r} has no lossless 64-bit form: its {lost} does not fit the 40 bits"
                " left for asset_id with reserved 0; use .key", field="asset_id")
        return _u64_form(&self.v)

    @staticmethod
    def from_u64(value):
        """The ID of a 64-bit form made by to_u64."""
        cdef uint64_t packed = _uint_arg(value, UINT64_MAX, "InstrumentId.from_u64 value")
        cdef InstrumentId_t v
        v.venue = <uint16_t>(packed >> 48)
        v.asset_type = <uint8_t>(packed >> 40)
        v.reserved = 0
        v.asset_id = packed & ((1ULL << U64_ASSET_BITS) - 1)
        return _iid_new(v)

    @property
    def key(self):
        """Lossless integer key of all 96 bits: venue, asset_type, reserved, asset_id."""
        return (((<object>self.v.venue << 8 | self.v.asset_type) << 8 | self.v.reserved) << 64
                | <object>self.v.asset_id)

    @staticmethod
    def from_key(key):
        """The ID whose .key is `key`."""
        key = _as_index(key, "InstrumentId.from_key key")
        if not 0 <= key < 1 << 96:
            raise FieldValueError(f"InstrumentId.from_key: {key} is not a 96-bit key", field="key")
        return InstrumentId(key >> 80, (key >> 72) & 0xFF, (key >> 64) & 0xFF,
                            key & 0xFFFFFFFFFFFFFFFF)

    def astuple(self):
        """(venue, asset_type, reserved, asset_id): the fields in wire order, as the dtype
        and the JSON mapping hold them; ``InstrumentId(*t)`` builds the ID back."""
        return (self.v.venue, self.v.asset_type, self.v.reserved, self.v.asset_id)

    def to_bytes(self):
        """The 12 wire bytes."""
        return PyBytes_FromStringAndSize(<const char*>&self.v, sizeof(InstrumentId_t))

    @staticmethod
    def from_bytes(data):
        """The ID of 12 wire bytes."""
        cdef bytes raw = _bytes_like(data, "InstrumentId.from_bytes")
        if len(raw) != sizeof(InstrumentId_t):
            raise TruncatedError(f"an InstrumentId is 12 bytes, got {len(raw)}", offset=len(raw))
        cdef InstrumentId_t v
        memcpy(&v, PyBytes_AS_STRING(raw), sizeof(v))
        return _iid_new(v)

    @property
    def symbol(self):
        """The stock symbol packed into asset_id (meaningful for AssetType.Stock)."""
        cdef uint8_t raw[8]
        cdef int i
        for i in range(8):
            raw[i] = (self.v.asset_id >> (56 - 8 * i)) & 0xFF
        return _ascii_value(raw, 8)

    def debug_info(self, cache=None):
        """A readable description, as the design's debug_info; with an ObjectCache that
        knows the ID, its symbol follows in parentheses."""
        symbol = cache.symbol(self) if cache is not None else None
        described = self._describe()
        return f"{described} ({symbol})" if symbol else described

    cdef str _describe(self):
        venue = _enum_name(VenueId, self.v.venue)
        if self.v.asset_type == AssetType.Token and self.v.venue == VenueId.Ethereum:
            return f"ETH Token 0x{self.v.asset_id:016x}..."
        if self.v.asset_type == AssetType.Stock:
            return f"{venue} Stock: {self.symbol}"
        if self.v.asset_type == AssetType.Pool:
            return f"{venue} Pool #{self.v.asset_id}"
        if self.v.asset_type == AssetType.CryptoSpot:
            return f"{venue} CryptoSpot: {'/'.join(self.pair)}"
        return f"{venue} {_enum_name(AssetType, self.v.asset_type)} #{self.v.asset_id}"

    def __eq__(self, other):
        if type(other) is not InstrumentId:
            return NotImplemented
        return memcmp(&self.v, &(<InstrumentId>other).v, sizeof(InstrumentId_t)) == 0

    def __hash__(self):
        return hash((self.v.venue, self.v.asset_type, self.v.reserved, self.v.asset_id))

    def __repr__(self):
        return (f"InstrumentId(venue={self.v.venue}, asset_type={self.v.asset_type},"
                f" reserved={self.v.reserved}, asset_id={self.v.asset_id})")

    def __reduce__(self):
        return InstrumentId, self.astuple()


# The parts' descriptors: static storage, as the type keeps pointers into it.
cdef PyMemberDef _IID_PARTS[4]


cdef int _add_parts() except -1:
    """Give InstrumentId its parts as read-only member descriptors over its int slots: the
    interpreter specialises a read of such a slot into a load in place (LOAD_ATTR_SLOT), where
    a getter is a call that makes the int on every read."""
    cdef InstrumentId probe = InstrumentId.__new__(InstrumentId)
    cdef char* base = <char*><PyObject*>probe
    cdef PyObject** slots[4]
    slots[:] = [&probe._venue, &probe._asset_type, &probe._reserved, &probe._asset_id]
    _IID_PARTS[0].name = b"venue"
    _IID_PARTS[0].doc = b"VenueId number (u16)."
    _IID_PARTS[1].name = b"asset_type"
    _IID_PARTS[1].doc = b"AssetType number (u8)."
    _IID_PARTS[2].name = b"reserved"
    _IID_PARTS[2].doc = b"Reserved byte, kept on the wire (u8)."
    _IID_PARTS[3].name = b"asset_id"
    _IID_PARTS[3].doc = b"Venue-specific identifier (u64)."
    cdef int i
    for i in range(4):
        _IID_PARTS[i].type = T_OBJECT_EX
        _IID_PARTS[i].flags = READONLY
        _IID_PARTS[i].offset = <char*>slots[i] - base
        ap_add_member(<PyTypeObject*>InstrumentId, &_IID_PARTS[i])
    return 0


_add_parts()
