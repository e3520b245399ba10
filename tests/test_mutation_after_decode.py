"""A decoded message is a view of the caller's buffer; a caller may write into that buffer
afterwards. Reading the message then gives values or raises a ParseError, and never reads
outside the frame it was decoded from.

The frame sits at the start of a larger buffer, so that a read past its end stays in memory
this test owns (a read past the frame is caught by what it returns, not by a crash)."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire.layouts import MESSAGES
from strategies import builder_kwargs, frames
from frames import zeroed_frame

ROOM = (1 << 21) + (1 << 16)   # after the frame: more than any count this test writes can reach
MAX_COUNT = 1 << 20            # counts up to this (a u32 count could point 4 GiB away)

def _placed(frame: bytes, kind: str):
    """The frame at the start of a writable buffer of `kind`, with room after it; returns
    the buffer and the message decoded from the frame's part of it."""
    if kind == "numpy":
        buffer = np.full(len(frame) + ROOM, 0xA5, dtype=np.uint8)
        buffer[:len(frame)] = np.frombuffer(frame, dtype=np.uint8)
        return buffer, ap.decode(buffer[:len(frame)])
    buffer = bytearray(frame) + bytearray(b"\xa5" * ROOM)
    return buffer, ap.decode(memoryview(buffer)[:len(frame)])

def _write(buffer, at: int, raw: bytes) -> None:
    """Overwrite bytes of a bytearray or a numpy array of bytes."""
    buffer[at:at + len(raw)] = np.frombuffer(raw, dtype=np.uint8) if isinstance(
        buffer, np.ndarray) else raw

def _tail_bytes(message, layout) -> int:
    total = 0
    for tail in layout.tail:
        value = getattr(message, tail.name)
        if tail.kind == "levels":
            total += 16 * len(value)
        elif isinstance(value, str):
            total += len(value.encode("utf-8", "surrogateescape"))
        else:
            total += len(value)
    return total

def _read_within_frame(message, size: int) -> None:
    """Read every field, tail and TLV; what comes back must fit in the frame's `size` bytes."""
    layout = type(message).layout
    room = size - 32 - layout.body_size
    try:
        repr(message)
        message.fields()
        assert _tail_bytes(message, layout) <= room, "a tail read past the frame"
        tlvs = message.tlv
        assert sum(2 + len(t.to_bytes()) - 2 for t in tlvs) <= room, "TLVs read past the frame"
        for tlv in tlvs:
            message.find_tlv(tlv.tlv_type)
        assert len(message.to_bytes()) == size
    except ap.ParseError:
        pass

def _without_tlvs(layout):
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    return builder_kwargs(layout).map(lambda kwargs: cls.encode(**{**kwargs, "tlv": []}))

@pytest.mark.parametrize("kind", ["bytearray", "numpy"])
@settings(max_examples=60)
@given(frame=st.sampled_from([l for l in MESSAGES.values() if not l.tail]).flatmap(_without_tlvs),
       data=st.data())
def test_writing_fixed_fields_after_decode(kind, frame, data):
    """Any byte of a fixed-body frame without TLVs, header included, overwritten: the
    message reads the new values, within its frame."""
    buffer, message = _placed(frame, kind)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(frame) - 1))
        buffer[at] = data.draw(st.integers(0, 255))
    _read_within_frame(message, len(frame))
    assert message.to_bytes() == bytes(buffer[:len(frame)])

@pytest.mark.parametrize("kind", ["bytearray", "numpy"])
def test_order_book_bid_count_200_on_a_64_byte_frame(kind):
    frame = zeroed_frame(ap.OrderBook, instrument_id=ap.InstrumentId.stock(ap.VenueId.NYSE, "IBM"))
    assert len(frame) == 64
    buffer, message = _placed(frame, kind)
    assert message.bids == ()
    _write(buffer, 32 + 22, struct.pack("<H", 200))
    assert message.bid_count == 200
    with pytest.raises(ap.ParseError):
        message.bids

def _count_values(width: int) -> st.SearchStrategy[int]:
    return st.integers(0, min((1 << (8 * width)) - 1, MAX_COUNT))

@pytest.mark.parametrize("kind", ["bytearray", "numpy"])
@settings(max_examples=40, phases=[Phase.explicit, Phase.generate])
@given(layout=st.sampled_from([l for l in MESSAGES.values() if l.tail]), data=st.data())
def test_writing_tail_counts_after_decode(kind, layout, data):
    frame = data.draw(frames(layout))
    buffer, message = _placed(frame, kind)
    tail = data.draw(st.sampled_from(layout.tail))
    field = layout.field(tail.count_field)
    value = data.draw(_count_values(field.size))
    _write(buffer, 32 + field.offset, value.to_bytes(field.size, "little"))
    _read_within_frame(message, len(frame))

@pytest.mark.parametrize("kind", ["bytearray", "numpy"])
def test_growing_a_tlv_length_after_decode(kind):
    frame = zeroed_frame(ap.DeFiSignal, tlv=[ap.RawTLV(tlv_type=9, payload=b"abcd")])
    buffer, message = _placed(frame, kind)
    assert message.tlv == [ap.RawTLV(tlv_type=9, payload=b"abcd")]
    buffer[len(frame) - 5] = 200           # the TLV's length: 200 bytes, where 4 follow
    _read_within_frame(message, len(frame))

def test_run_time_schema_tails_stay_in_the_frame():
    """The tails of a run-time schema check their counts against the frame when read."""
    registry = ap.Registry()
    cls = registry.register(ap.Schema(message_type=240, version=1, name="Noted",
                                      fields=[("n", "u16")], tail=[("note", "n", "utf8")]))
    frame = cls(note="hello").to_bytes()
    for kind in ("bytearray", "numpy"):
        buffer = bytearray(frame) + bytearray(ROOM)
        message = registry.decode(memoryview(buffer)[:len(frame)])
        buffer[32:34] = struct.pack("<H", 60000)
        with pytest.raises(ap.ParseError):
            message.note
