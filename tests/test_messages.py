"""Building and decoding every message type, field by field."""
from __future__ import annotations

import pickle
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire import _codec
from alphapulse_codec.wire._codec import HEADER_FIELD_NAMES
from alphapulse_codec.wire.layouts import HEADER_SIZE, MESSAGES, Tail

from frames import zeroed, zeroed_frame, zeros
from strategies import builder_kwargs

LAYOUTS = list(MESSAGES.values())
AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def _expected(value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list):
        return tuple(ap.BookLevel(*level) for level in value)
    return value


def test_every_message_type_with_a_layout_has_a_class():
    assert set(ap.MESSAGE_CLASSES) == set(MESSAGES)
    for message_type, cls in ap.MESSAGE_CLASSES.items():
        assert cls.message_type == message_type
        assert cls.__name__ == MESSAGES[message_type].class_name


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@given(data=st.data())
def test_build_then_decode_gives_every_field_back(layout, data):
    kwargs = data.draw(builder_kwargs(layout))
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    frame = cls.encode(**kwargs)
    assert cls(**kwargs).to_bytes() == frame
    message = ap.decode(frame)
    assert type(message) is cls
    body = {f.name for f in layout.value_fields}
    for name, value in kwargs.items():
        if name == "tlv":
            assert message.tlv == list(value)
        elif name.startswith("header_") or name not in body | {t.name for t in layout.tail}:
            assert getattr(message.header, name.removeprefix("header_")) == value
        else:
            assert getattr(message, name) == _expected(value), name
    header = message.header
    assert header.magic == 0xDEADBEEF
    assert header.message_type == layout.message_type
    assert header.payload_size == len(frame) - HEADER_SIZE
    assert header.checksum == zlib.crc32(frame[32:], zlib.crc32(frame[:28]))


def test_trade_layout_matches_the_decided_offsets():
    frame = ap.Trade.encode(instrument_id=AAPL, price=-5, volume=7, side=ap.Side.Sell, flags=3,
                            sequence=9, timestamp=11, source=ap.SourceType.AlpacaCollector)
    assert len(frame) == 64
    assert frame[:4] == bytes.fromhex("EFBEADDE")
    assert frame[4:8] == bytes([1, 1, 5, 0])  # type, version, source, header flags
    assert int.from_bytes(frame[8:12], "little") == 32
    assert int.from_bytes(frame[12:20], "little") == 9
    assert int.from_bytes(frame[20:28], "little") == 11
    assert frame[32:44] == AAPL.to_bytes()
    assert int.from_bytes(frame[44:52], "little", signed=True) == -5
    assert int.from_bytes(frame[52:60], "little") == 7
    assert frame[60:64] == bytes([2, 3, 0, 0])


def test_a_body_field_shadows_the_header_field_of_the_same_name():
    trade = zeroed(ap.Trade, flags=5, header_flags=6)
    assert trade.flags == 5 and trade.header.flags == 6
    signal = zeroed(ap.DeFiSignal, version=3)
    assert signal.version == 3 and signal.header.version == 1
    with pytest.raises(TypeError):
        zeroed(ap.Trade, header_version=1)


def test_decoded_message_is_a_view_over_the_callers_buffer():
    frame = bytearray(zeroed_frame(ap.Trade, price=42))
    message = ap.decode(frame)
    with pytest.raises(BufferError):
        frame.extend(b"x")  # the view holds the buffer: it cannot move under the message
    del message
    frame.extend(b"x")


def test_decoded_bytes_are_not_copied():
    frame = zeroed_frame(ap.Trade, price=42)
    assert ap.decode(frame).to_bytes() is frame
    built = zeroed(ap.Trade, price=1)
    assert built.to_bytes() is built.to_bytes()


def test_decode_accepts_any_buffer():
    frame = zeroed_frame(ap.Quote, bid_price=1, ask_price=2)
    for buffer in (frame, bytearray(frame), memoryview(frame)):
        assert ap.decode(buffer).ask_price == 2
    numpy = pytest.importorskip("numpy")
    assert ap.decode(numpy.frombuffer(frame, dtype=numpy.uint8)).bid_price == 1


def test_messages_are_immutable():
    trade = zeroed(ap.Trade, price=1)
    with pytest.raises(AttributeError):
        trade.price = 2


def test_replace_changes_the_fields_named_and_refuses_others_by_name():
    trade = zeroed(ap.Trade, instrument_id=AAPL, price=1, sequence=5)
    changed = trade.replace(price=2, header_flags=1)
    assert (changed.price, changed.sequence, changed.header.flags) == (2, 5, 1)
    with pytest.raises(TypeError, match=r"Trade.replace\(\) got an unexpected keyword argument"
                                        r" 'prcie': its fields are instrument_id, price, "):
        trade.replace(prcie=2)


def test_equality_hash_pickle_and_repr():
    a = zeroed(ap.Trade, instrument_id=AAPL, price=1, sequence=1)
    b = ap.decode(memoryview(a.to_bytes()))
    assert a == b and hash(a) == hash(b)
    assert a == ap.decode(bytearray(a.to_bytes()))  # not hashable: tests/test_views.py
    assert a != zeroed(ap.Trade, instrument_id=AAPL, price=2, sequence=1)
    assert pickle.loads(pickle.dumps(b)) == a
    text = repr(a)
    assert text.startswith("Trade(instrument_id=InstrumentId(venue=2") and "price=1" in text


def test_iter_frames_reads_frames_back_to_back():
    frames = [zeroed_frame(ap.Trade, sequence=i, price=i) for i in range(5)]
    frames.append(zeroed_frame(ap.InstrumentDiscovered, instrument_id=AAPL, symbol="AAPL", metadata=b"m"))
    messages = list(ap.iter_frames(b"".join(frames)))
    assert [m.to_bytes() for m in messages] == frames
    assert [m.price for m in messages[:5]] == list(range(5))
    assert list(ap.iter_frames(b"")) == []


def test_messages_from_iter_frames_outlive_the_iterator():
    data = bytearray(b"".join(zeroed_frame(ap.Trade, price=i) for i in range(3)))
    messages = list(ap.iter_frames(data))
    assert [m.price for m in messages] == [0, 1, 2]


def test_discovery_message_carries_symbol_and_metadata():
    weth = ap.InstrumentId.ethereum_token("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2")
    usdc = ap.InstrumentId.ethereum_token("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
    pool = ap.InstrumentId.pool(ap.VenueId.UniswapV3, usdc, weth)
    frame = ap.PoolDiscovered.encode(instrument_id=pool, decimals=18, symbol="USDC/WETH",
                                     metadata=b"\x01\x02", source=ap.SourceType.PolygonCollector)
    message = ap.decode(frame)
    assert isinstance(message, ap.PoolDiscovered)
    assert (message.symbol, message.metadata, message.symbol_len, message.metadata_len) == (
        "USDC/WETH", b"\x01\x02", 9, 2)
    assert len(frame) == 48 + 9 + 2
    assert message.tlv == []


def test_order_book_levels_round_trip():
    book = zeroed(ap.OrderBook, instrument_id=AAPL, bids=[(100, 5), (99, 7)], asks=[(101, 1)])
    message = ap.decode(book.to_bytes())
    assert message.bids == (ap.BookLevel(100, 5), ap.BookLevel(99, 7))
    assert message.asks[0].price == 101 and message.bid_count == 2 and message.ask_count == 1


def test_defi_signal_records_where_its_tlvs_are():
    pools = ap.PoolAddressTLV(venue_a_pool=b"\x01" * 20, venue_b_pool=b"\x02" * 20)
    unknown = ap.RawTLV(150, b"future")
    signal = ap.decode(zeroed_frame(ap.DeFiSignal, signal_id=1, tlv=[pools, unknown]))
    assert (signal.tlv_offset, signal.tlv_length) == (312, 44 + 8)
    assert signal.tlv == [pools, unknown]
    assert signal.find_tlv(ap.TLVType.PoolAddresses).venue_b_pool == b"\x02" * 20
    assert signal.find_tlv(ap.TLVType.MEVBundle) is None
    plain = ap.decode(zeroed_frame(ap.DeFiSignal, signal_id=1))
    assert (plain.tlv_offset, plain.tlv_length, plain.tlv) == (0, 0, [])


def test_any_fixed_body_carries_tlv_extensions():
    extra = ap.TertiaryVenueTLV(venue_c_router="0x" + "ab" * 20, venue_c_type=2, fee_c_ppm=3000)
    trade = ap.decode(zeroed_frame(ap.Trade, price=1, tlv=[extra]))
    assert trade.header.payload_size == 32 + 32 and trade.tlv == [extra]


def test_tlv_buffers_parse_and_find():
    pools = ap.PoolAddressTLV(venue_a_pool=b"\x01" * 20, venue_b_pool=b"\x02" * 20)
    area = ap.RawTLV(99, b"abc").to_bytes() + pools.to_bytes()
    assert ap.parse_tlvs(area) == [ap.RawTLV(99, b"abc"), pools]
    assert ap.find_tlv(area, ap.TLVType.PoolAddresses) == pools
    assert ap.find_tlv(area, 7) is None
    assert ap.parse_tlvs(b"") == []


def test_error_and_config_messages_carry_text():
    error = ap.decode(zeroed_frame(ap.ErrorReport, code=7, text="feed stalled: ÄÖ", related_type=1))
    assert error.text == "feed stalled: ÄÖ" and error.text_len == len("feed stalled: ÄÖ".encode())
    config = ap.decode(zeroed_frame(ap.ConfigUpdate, key="relay.max_queue", value=b"1000000"))
    assert (config.key, config.value) == ("relay.max_queue", b"1000000")


def test_ascii_field_round_trips():
    alert = ap.decode(zeroed_frame(ap.StrategyAlert, text="spread > 40bps", severity=ap.Severity.Warning))
    assert alert.text == "spread > 40bps"


def test_typed_tlv_fields_are_checked():
    with pytest.raises(ap.FieldValueError, match="venue_a_pool .*expected 20 bytes, got 3"):
        ap.PoolAddressTLV(venue_a_pool=b"abc")
    with pytest.raises(ap.FieldValueError, match="expected bytes or '0x' \\+ hex"):
        ap.PoolAddressTLV(venue_a_pool="0xzz")
    with pytest.raises(ap.FieldValueError, match=r"fee_c_ppm \(u32\): -1 is out of range"):
        ap.TertiaryVenueTLV(fee_c_ppm=-1)
    with pytest.raises(TypeError, match="has no field 'fee'"):
        ap.TertiaryVenueTLV(fee=1)
    assert ap.PoolAddressTLV(venue_a_pool="0x" + "11" * 20).venue_a_pool == b"\x11" * 20


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@given(data=st.data())
def test_whole_message_reads_give_the_header_and_fields(layout, data):
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    message = ap.decode(bytearray(cls.encode(**data.draw(builder_kwargs(layout)))))
    header = message.header
    body = message.fields()
    flat = {f"header_{name}" if name in body else name: getattr(header, name)
            for name in HEADER_FIELD_NAMES}
    for name, value in flat.items():
        assert getattr(message, name) == value, name
    assert message.asdict() == {**flat, **body}
    assert list(message.asdict()) == list(flat) + list(body)
    assert message.astuple() == tuple(flat.values()) + tuple(body.values())
    assert ap.astuple(message) == message.astuple() and ap.asdict(message) == message.asdict()
    assert message.header_flags == header.flags and message.header_version == header.version


def test_header_and_instrument_id_are_made_once_per_message():
    trade = ap.decode(zeroed_frame(ap.Trade, instrument_id=AAPL, price=1, sequence=9))
    assert trade.header is trade.header
    assert trade.instrument_id is trade.instrument_id is trade.astuple()[9]
    assert trade.instrument_id == AAPL
    assert trade.sequence == trade.header.sequence == 9


def test_a_cached_instrument_id_follows_a_change_of_the_buffer():
    frame = bytearray(zeroed_frame(ap.Trade, instrument_id=AAPL))
    trade = ap.decode(frame)
    assert trade.instrument_id == AAPL
    other = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "MSFT")
    frame[32:44] = zeroed_frame(ap.Trade, instrument_id=other)[32:44]
    assert trade.instrument_id == other
    assert trade.asdict()["instrument_id"] == other


def test_instrument_ids_shared_between_messages_stay_those_of_their_frames():
    # more instruments than the decoder keeps at hand, each decoded twice, in two orders
    ids = [ap.InstrumentId(venue=venue, asset_type=kind, asset_id=asset_id)
           for venue in (1, 2, 300) for kind in (1, 2, 3) for asset_id in range(40)]
    frames = [zeroed_frame(ap.Trade, instrument_id=iid, price=n) for n, iid in enumerate(ids)]
    for order in (frames, frames[::-1] + frames):
        for frame in order:
            trade = ap.decode(frame)
            assert trade.instrument_id == ids[trade.price]
            assert trade.instrument_id.asset_id == ids[trade.price].asset_id
    first, second = ap.decode(frames[7]), ap.decode(frames[7])
    assert first.instrument_id is second.instrument_id


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@given(data=st.data())
def test_reads_by_name_give_what_the_getters_give(layout, data):
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    message = ap.decode(cls.encode(**data.draw(builder_kwargs(layout))))
    names = [*HEADER_FIELD_NAMES, "header_flags", "header_version",
             *(f.name for f in layout.value_fields)]
    for name in names:
        descriptor = next(base.__dict__[name] for base in type(message).__mro__
                          if name in base.__dict__)
        expected = descriptor.__get__(message) if hasattr(descriptor, "__get__") else descriptor
        assert getattr(message, name) == expected, name
        # a name built at run time is not the interned one the fast path compares against
        assert getattr(message, "".join(name)) == expected, name
    iid = ap.InstrumentId(venue=3, asset_type=2, asset_id=2**40 + 5, reserved=1)
    assert (iid.venue, iid.asset_type, iid.asset_id, iid.reserved) == (3, 2, 2**40 + 5, 1)
    assert iid.to_bytes() == ap.InstrumentId.from_bytes(iid.to_bytes()).to_bytes()


def test_a_subclass_made_in_python_keeps_its_own_attributes():
    class Doubled(ap.Trade):
        @property
        def price(self):
            return 2 * super().price

        sequence = "class attribute"

    trade = Doubled(**(zeros(ap.Trade) | {"instrument_id": AAPL, "price": 21}), sequence=4)
    assert trade.price == 42 and trade.sequence == "class attribute"
    assert trade.volume == 0 and trade.header.sequence == 4
    assert ap.decode(trade.to_bytes()).price == 21
    assert ap.decode(trade.to_bytes()).message_type is ap.MessageType.Trade


def test_fields_of_a_message_without_a_frame_raise():
    trade = ap.Trade.__new__(ap.Trade)
    for name in ("price", "instrument_id", "sequence", "header_flags"):
        with pytest.raises(TypeError, match="made without a frame"):
            getattr(trade, name)
    with pytest.raises(AttributeError):
        trade.no_such_field


def test_a_header_outlives_its_message_and_pickles():
    header = ap.decode(bytearray(zeroed_frame(ap.Quote, sequence=5))).header
    assert header.sequence == 5 and header.message_type == ap.MessageType.Quote
    assert repr(pickle.loads(pickle.dumps(header))) == repr(header)


def test_whole_message_reads_of_a_run_time_schema():
    registry = ap.Registry()
    cls = registry.register(ap.Schema(
        message_type=230, version=1, name="WholeRead",
        fields=[("instrument_id", "instrument_id"), ("flags", "u8"), ("score", "i32"),
                ("note_len", "u16")], tail=[("note", "note_len", "utf8")]))
    message = ap.decode(cls(instrument_id=AAPL, flags=4, score=-3, note="hi", sequence=2,
                            header_flags=7).to_bytes(), registry=registry)
    values = message.asdict()
    assert values["header_flags"] == 7 and values["flags"] == 4 and values["sequence"] == 2
    assert list(values)[len(HEADER_FIELD_NAMES):] == list(message.fields())
    assert message.astuple() == tuple(values.values())
    assert ap.astuple(message) == message.astuple() and ap.asdict(message) == values
    assert message.header_flags == 7 and message.timestamp == 0


def test_the_module_functions_take_messages_only():
    for function in (ap.astuple, ap.asdict):
        for value in (None, b"\xef\xbe\xad\xde", {"price": 1}):
            with pytest.raises(TypeError, match="Message"):
                function(value)


def test_a_message_without_its_body_fields_is_refused_naming_them():
    for build in (ap.Trade, ap.Trade.encode):
        with pytest.raises(ap.MissingFieldError) as caught:
            build()
        assert str(caught.value) == (
            "Trade: missing required fields instrument_id, price, volume, side (only fields whose"
            " zero means none, tails, TLVs and header fields have defaults)")
        assert caught.value.missing == ("instrument_id", "price", "volume", "side")
        assert caught.value.field == "instrument_id"
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ap.FieldValueError)
    with pytest.raises(ap.MissingFieldError, match="Trade: missing required field side "):
        ap.Trade(instrument_id=AAPL, price=1, volume=2, sequence=1)


TRADE_FIELDS = {"instrument_id": AAPL, "price": -5, "volume": 7, "side": 2, "flags": 3,
                "sequence": 9, "timestamp": 11, "source": 4}


def test_encode_takes_its_keywords_in_any_order_and_by_names_made_at_run_time():
    frame = ap.Trade(**TRADE_FIELDS).to_bytes()
    assert ap.Trade.encode(**TRADE_FIELDS) == frame
    assert ap.Trade.encode(**dict(reversed(TRADE_FIELDS.items()))) == frame
    # names that are not the interned ones the code's keywords are
    assert ap.Trade.encode(**{"".join(name): value for name, value in TRADE_FIELDS.items()}) == frame
    assert ap.Trade.encode(**TRADE_FIELDS, version=1, header_flags=0, tlv=()) == frame
    with pytest.raises(TypeError, match="positional"):
        ap.Trade.encode(AAPL)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        ap.Trade.encode(**TRADE_FIELDS, colour=1)
    with pytest.raises(ap.FieldValueError, match=r"Trade.price \(frame offset 44, i64\): 9223"):
        ap.Trade.encode(**(TRADE_FIELDS | {"price": 2**63}))
    with pytest.raises(ap.MissingFieldError, match="missing required field side "):
        ap.Trade.encode(**{k: v for k, v in TRADE_FIELDS.items() if k != "side"})


@pytest.mark.parametrize("price", [-(2**63), -(2**60) - 1, -(2**60), -(2**30), -1, 0, 1,
                                   2**30 - 1, 2**30, 2**60 - 1, 2**60, 2**63 - 1])
@pytest.mark.parametrize("volume", [0, 2**30, 2**60 - 1, 2**60, 2**64 - 1])
def test_integers_of_every_width_of_digits_build_exactly(price, volume):
    fields = TRADE_FIELDS | {"price": price, "volume": volume, "side": True}
    trade = ap.decode(ap.Trade.encode(**fields))
    assert (trade.price, trade.volume, trade.side) == (price, volume, 1)
    assert ap.Trade.encode(**(fields | {"side": ap.Side.Sell})) == ap.Trade.encode(
        **(fields | {"side": 2}))


@pytest.mark.parametrize("name, value, bounds", [
    ("volume", -1, r"\[0, 18446744073709551615\]"), ("volume", -(2**60), r"\[0, "),
    ("volume", 2**64, r"\[0, "), ("price", -(2**63) - 1, r"\[-9223372036854775808, "),
    ("side", 256, r"\[0, 255\]"), ("side", 2**59, r"\[0, 255\]"), ("side", -1, r"\[0, 255\]"),
    ("sequence", -(2**30), r"\[0, "),
])
def test_integers_out_of_a_fields_range_are_refused_by_encode(name, value, bounds):
    with pytest.raises(ap.FieldValueError, match=f"{value} is out of range {bounds}"):
        ap.Trade.encode(**(TRADE_FIELDS | {name: value}))


def test_instrument_id_parts_are_read_only_ints():
    iid = ap.InstrumentId(venue=ap.VenueId.NASDAQ, asset_type=1, reserved=2, asset_id=2**64 - 1)
    assert (iid.venue, iid.asset_type, iid.reserved, iid.asset_id) == (ap.VenueId.NASDAQ, 1, 2,
                                                                       2**64 - 1)
    assert type(iid.venue) is int  # the number, as the wire holds it, not the enum given
    for name in ("venue", "asset_type", "reserved", "asset_id"):
        with pytest.raises(AttributeError):
            setattr(iid, name, 0)
    assert ap.InstrumentId.__new__(ap.InstrumentId).astuple() == (0, 0, 0, 0)
    assert ap.InstrumentId.__new__(ap.InstrumentId).asset_id == 0
    assert ap.InstrumentId.asset_id.__doc__ == "Venue-specific identifier (u64)."


def _value_of(part):
    if isinstance(part, Tail):  # the required tails are the canonical-JSON ones
        return '{"a":1}'
    return {"int": 1, "instrument_id": AAPL, "bytes": b"\x01" * part.size, "ascii": "x"}[part.kind]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.class_name)
def test_exactly_the_fields_without_a_default_are_required(layout):
    """Value fields are required unless layouts.py declares them optional, and so are tails
    that must be canonical JSON; padding, counts, TLV positions, other tails, TLVs and the
    header may be left out."""
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    parts = {f.name: f for f in layout.value_fields} | {t.name: t for t in layout.tail}
    expected = [f.name for f in layout.value_fields
                if not f.optional and f.name not in layout.derived_fields]
    expected += [t.name for t in layout.tail if t.canonical_json]
    assert list(layout.required_fields) == expected
    required = {name: _value_of(parts[name]) for name in layout.required_fields}
    message = cls(**required)
    assert all(getattr(message, name) == value for name, value in required.items())
    for f in layout.value_fields:
        if f.optional:
            assert getattr(message, f.name) in (0, b"\0" * f.size, "", ap.InstrumentId())
    for name in required:
        others = {k: v for k, v in required.items() if k != name}
        with pytest.raises(ap.MissingFieldError,
                           match=f"{layout.class_name}: missing required field {name} "):
            cls.encode(**others)


def test_no_public_name_that_reads_as_an_exception_is_a_message_class():
    assert not hasattr(ap, "Error")
    assert ap.MESSAGE_CLASSES[ap.MessageType.Error] is ap.ErrorReport
    assert ap.ErrorReport.layout.name == "Error" == ap.MessageType.Error.name
    for name in ap.__all__:
        if name.endswith("Error"):
            assert issubclass(getattr(ap, name), Exception), name
    frame = ap.ErrorReport.encode(code=7, severity=ap.Severity.Error, text="feed stalled")
    assert type(ap.decode(frame)) is ap.ErrorReport
    try:
        ap.decode(frame[:-1])
    except ap.ParseError as error:  # what `except ap.Error:` meant, and could not do
        assert "truncated" in str(error) or "length" in str(error)


def test_header_fields_is_the_mapping_of_header_keywords():
    assert set(ap.HeaderFields.__annotations__) == {"sequence", "timestamp", "source"}
    assert set(ap.HeaderFields.__annotations__) <= set(_codec.HEADER_BUILDER_FIELDS)
    header: ap.HeaderFields = {"sequence": 7, "timestamp": 8, "source": ap.SourceType.AlpacaCollector}
    trade = ap.Trade(instrument_id=AAPL, price=1, volume=2, side=ap.Side.Buy, flags=3, **header)
    assert (trade.sequence, trade.timestamp, trade.source, trade.flags, trade.header.flags) == (
        7, 8, ap.SourceType.AlpacaCollector, 3, 0)
    signal = zeroed(ap.DeFiSignal, version=4, **header)
    assert signal.header.sequence == 7 and signal.version == 4 and signal.header.version == 1
