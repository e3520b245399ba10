"""Decoded messages view buffers that the caller may change afterwards (a reused receive
buffer): no read of a view leaves the frame as it was decoded, and only views of buffers that
cannot change are hashable."""
from __future__ import annotations

import numpy as np
import pytest

import alphapulse_codec as ap
from frames import zeroed, zeroed_frame, zeros

AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def _in_larger_buffer(frame: bytes) -> tuple[np.ndarray, ap.Message]:
    """A view of `frame` decoded from the start of a larger array, so that a read past the
    frame returns the array's other bytes instead of crashing."""
    backing = np.full(8192, 0x41, dtype=np.uint8)
    backing[:len(frame)] = np.frombuffer(frame, dtype=np.uint8)
    return backing, ap.decode(backing[:len(frame)])


def test_order_book_levels_stay_in_the_frame_when_the_count_changes():
    frame = zeroed_frame(ap.OrderBook, instrument_id=AAPL, bids=[], asks=[])
    backing, book = _in_larger_buffer(frame)
    assert book.size == 64 and book.bids == () and book.asks == ()
    backing[ap.OrderBook.layout.frame_offset("bid_count")] = 200
    with pytest.raises(ap.LengthMismatchError) as error:
        book.bids
    assert error.value.field == "bids" and error.value.offset == 54
    assert "3200 bytes from byte 64, past the end of the 64-byte frame" in str(error.value)
    with pytest.raises(ap.LengthMismatchError, match="OrderBook.bids"):
        book.asks  # the asks start after the bids
    with pytest.raises(ap.LengthMismatchError):
        book.fields()


def test_a_count_cannot_reach_the_next_frame_of_a_reused_bytearray():
    first = zeroed_frame(ap.OrderBook, bids=[(1, 2)], asks=[(3, 4)])
    buffer = bytearray(first + zeroed_frame(ap.OrderBook, bids=[(5, 6)] * 8, asks=[]))
    book = next(iter(ap.iter_frames(buffer)))
    assert book.asks == ((3, 4),)
    buffer[ap.OrderBook.layout.frame_offset("ask_count")] = 5
    with pytest.raises(ap.LengthMismatchError) as error:
        book.asks
    assert error.value.field == "asks" and error.value.offset == 56
    buffer[ap.OrderBook.layout.frame_offset("ask_count")] = 0  # shrinking stays in the frame
    assert book.asks == ()


@pytest.mark.parametrize("cls, fields, count_field, tail", [
    (ap.InstrumentDiscovered, {"symbol": "AAPL", "metadata": b"m"}, "symbol_len", "symbol"),
    (ap.InstrumentDiscovered, {"symbol": "AAPL", "metadata": b"m"}, "metadata_len", "metadata"),
    (ap.ErrorReport, {"text": "oops"}, "text_len", "text"),
    (ap.ConfigUpdate, {"key": "a.b", "value": b"1"}, "value_len", "value"),
    (ap.SchemaAnnouncement, {"spec": "{}"}, "spec_len", "spec"),
])
def test_text_and_byte_tails_stay_in_the_frame(cls, fields, count_field, tail):
    backing, message = _in_larger_buffer(zeroed_frame(cls, **fields))
    at = cls.layout.frame_offset(count_field)
    backing[at] = 0xFF
    with pytest.raises(ap.LengthMismatchError) as error:
        getattr(message, tail)
    assert error.value.field == tail and error.value.offset == at


def test_tlv_walks_stay_in_the_frame_when_a_length_changes():
    frame = zeroed_frame(ap.Trade, price=1, tlv=[ap.RawTLV(100, b"abcd")])
    backing, trade = _in_larger_buffer(frame)
    assert trade.tlv == [ap.RawTLV(100, b"abcd")]
    backing[65] = 250  # tlv_length of the TLV at byte 64
    with pytest.raises(ap.TLVError) as error:
        trade.tlv
    assert error.value.offset == 64 and "ends at byte 70" in str(error.value)
    with pytest.raises(ap.TLVError):
        trade.find_tlv(ap.TLVType.MEVBundle)
    with pytest.raises(ap.TLVError):
        repr(trade)


def test_run_time_schema_tails_stay_in_the_frame():
    registry = ap.Registry()
    Note = registry.register(ap.Schema(message_type=210, version=1, name="Note",
                                       fields=[("title_len", "u8"), ("body_len", "u16")],
                                       tail=[("title", "title_len", "utf8"),
                                             ("body", "body_len", "bytes")]))
    frame = Note(title="t", body=b"b").to_bytes()
    backing = np.zeros(4096, dtype=np.uint8)
    backing[:len(frame)] = np.frombuffer(frame, dtype=np.uint8)
    note = registry.decode(backing[:len(frame)])
    assert (note.title, note.body) == ("t", b"b")
    backing[32] = 100  # title_len: the body now starts past the frame
    with pytest.raises(ap.LengthMismatchError) as error:
        note.body
    assert error.value.offset == 32 and "past the end of the" in str(error.value)


def test_mutating_the_buffer_of_a_view_only_raises_parse_errors():
    frames = [zeroed_frame(ap.OrderBook, bids=[(1, 2)] * 3, asks=[(3, 4)]),
              zeroed_frame(ap.InstrumentDiscovered, symbol="AAPL", metadata=b"meta"),
              zeroed_frame(ap.ConfigUpdate, key="k", value=b"v" * 9),
              zeroed_frame(ap.Trade, tlv=[ap.PoolAddressTLV(venue_a_pool=b"\x01" * 20,
                                                     venue_b_pool=b"\x02" * 20)])]
    rng = np.random.default_rng(8)
    for frame in frames:
        backing, message = _in_larger_buffer(frame)
        for _ in range(300):
            backing[rng.integers(32, len(frame))] = rng.integers(256)
            try:
                repr(message)
                message.tlv
            except ap.ParseError:
                pass


@pytest.mark.parametrize("make", [bytearray, lambda frame: np.frombuffer(bytearray(frame), np.uint8)],
                         ids=["bytearray", "numpy"])
def test_a_view_of_a_writable_buffer_is_not_hashable(make):
    trade = ap.decode(make(zeroed_frame(ap.Trade, price=1)))
    with pytest.raises(ValueError, match="cannot hash a Trade that views a writable buffer"):
        hash(trade)
    assert trade == zeroed(ap.Trade, price=1)  # equality compares the bytes as they are now
    assert hash(trade.to_bytes()) == hash(zeroed(ap.Trade, price=1).to_bytes())
    with pytest.raises(ValueError):
        {trade}


def test_views_of_buffers_that_cannot_change_hash_by_value():
    frame = zeroed_frame(ap.Trade, price=1)
    readonly = np.frombuffer(bytearray(frame), np.uint8)
    readonly.setflags(write=False)
    views = [zeroed(ap.Trade, price=1), ap.decode(frame), ap.decode(memoryview(frame)), ap.decode(readonly),
             next(iter(ap.iter_frames(frame)))]
    assert len({hash(view) for view in views}) == 1 and len(set(views)) == 1


def test_a_message_is_not_rebuilt_by_calling_init_again():
    trade = zeroed(ap.Trade, price=1)
    with pytest.raises(TypeError, match="immutable"):
        trade.__init__(**(zeros(ap.Trade) | {"price": 2}))
    assert trade.price == 1
