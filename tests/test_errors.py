"""Every failure raises its own ParseError subclass, naming the byte offset."""
from __future__ import annotations

import struct
import zlib

import pytest

import alphapulse_codec as ap
from alphapulse_codec.wire.layouts import MESSAGES
from frames import zeroed, zeroed_frame

AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def reseal(frame: bytes | bytearray) -> bytes:
    """The frame with its checksum recomputed, to reach the checks behind the CRC."""
    frame = bytearray(frame)
    frame[28:32] = struct.pack("<I", zlib.crc32(frame[32:], zlib.crc32(frame[:28])))
    return bytes(frame)


def sample_frames() -> list[bytes]:
    """One frame of every type, with tails and TLVs where the type has them."""
    frames = []
    for message_type, cls in ap.MESSAGE_CLASSES.items():
        layout = MESSAGES[message_type]
        extra = {}
        for tail in layout.tail:
            extra[tail.name] = '"ab"' if tail.canonical_json else \
                {"utf8": "ab", "bytes": b"xyz", "levels": [(1, 2)]}[tail.kind]
        if layout.carries_tlv:
            extra["tlv"] = [ap.RawTLV(200, b"\x01\x02")]
        frames.append(zeroed_frame(cls, sequence=1, **extra))
    return frames


FRAMES = sample_frames()


def test_every_error_is_a_parse_error_and_a_value_error():
    for cls in (ap.BadMagicError, ap.ChecksumError, ap.TruncatedError, ap.FrameTooLargeError,
                ap.UnknownMessageTypeError, ap.UnknownVersionError, ap.LengthMismatchError,
                ap.TLVError, ap.FieldValueError):
        assert issubclass(cls, ap.ParseError) and issubclass(cls, ValueError)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: ap.MessageType(f[4]).name)
def test_every_truncated_prefix_is_refused(frame):
    for cut in range(len(frame)):
        with pytest.raises(ap.TruncatedError) as caught:
            ap.decode(frame[:cut])
        assert caught.value.frame_offset == 0
        assert caught.value.offset == cut
        assert f"needs {32 if cut < 32 else len(frame)} bytes" in str(caught.value)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: ap.MessageType(f[4]).name)
def test_every_flipped_bit_is_caught(frame):
    for position in range(len(frame)):
        for bit in (0, 7):
            corrupt = bytearray(frame)
            corrupt[position] ^= 1 << bit
            with pytest.raises(ap.ParseError):
                ap.decode(corrupt)


def test_bad_magic_names_the_offset_and_the_expected_bytes():
    frame = bytearray(FRAMES[0])
    frame[0] = 0
    with pytest.raises(ap.BadMagicError, match=r"at byte 0: expected 0xDEADBEEF \(bytes EF BE AD DE\), got 0xDEADBE00"):
        ap.decode(frame)


def test_checksum_mismatch_reports_both_values():
    frame = bytearray(zeroed_frame(ap.Trade, price=5))
    frame[50] ^= 0x10
    with pytest.raises(ap.ChecksumError) as caught:
        ap.decode(frame)
    assert caught.value.offset == 28 and caught.value.field == "checksum"
    assert ap.decode(frame, verify=False).price != 5


def test_frame_over_the_maximum_is_refused_before_reading_it():
    header = struct.pack("<IBBBBIQQI", 0xDEADBEEF, 1, 1, 0, 0, 0xFFFFFFF0, 0, 0, 0)
    with pytest.raises(ap.FrameTooLargeError, match="over the maximum of 1048576") as caught:
        ap.decode(header)
    assert caught.value.offset == 8
    frame = zeroed_frame(ap.Trade, tlv=[ap.RawTLV(9, b"x" * 100)])
    with pytest.raises(ap.FrameTooLargeError):
        ap.decode(frame, max_frame_size=100)
    assert ap.decode(frame, max_frame_size=len(frame)).tlv == [ap.RawTLV(9, b"x" * 100)]


@pytest.mark.parametrize("message_type", [0, 4, 60, 99, 109, 110, 200, 255])
def test_unknown_message_type(message_type):
    frame = bytearray(FRAMES[0])
    frame[4] = message_type
    with pytest.raises(ap.UnknownMessageTypeError, match=f"unknown message type {message_type} at byte 4"):
        ap.decode(reseal(frame))


def test_unknown_version():
    frame = bytearray(zeroed_frame(ap.Quote))
    frame[5] = 2
    with pytest.raises(ap.UnknownVersionError, match="unknown version 2 of Quote at byte 5"):
        ap.decode(reseal(frame))


def test_payload_smaller_than_the_body():
    frame = bytearray(zeroed_frame(ap.Quote))[:40]
    frame[8:12] = struct.pack("<I", 8)
    with pytest.raises(ap.LengthMismatchError, match="smaller than the 48-byte body"):
        ap.decode(reseal(frame))


def test_tail_lengths_must_fill_the_payload():
    frame = bytearray(zeroed_frame(ap.InstrumentDiscovered, symbol="AAPL", metadata=b"xy"))
    frame[45] = 5  # symbol_len one past the real tail
    with pytest.raises(ap.LengthMismatchError, match="add up to 23"):
        ap.decode(reseal(frame))


def test_trailing_bytes_after_the_frame():
    with pytest.raises(ap.LengthMismatchError, match="3 trailing bytes at byte 64"):
        ap.decode(zeroed_frame(ap.Trade) + b"abc")


def test_tlv_running_past_its_area():
    frame = bytearray(zeroed_frame(ap.Trade, tlv=[ap.RawTLV(9, b"abcd")]))
    frame[65] = 9  # claims 9 payload bytes, 4 are there
    with pytest.raises(ap.TLVError, match="TLV at byte 64 needs 11 bytes, its area has 6 left"):
        ap.decode(reseal(frame))
    with pytest.raises(ap.TLVError):
        ap.parse_tlvs(b"\x01")
    with pytest.raises(ap.TLVError):
        ap.find_tlv(b"\x09\x05abc", 9)


def test_known_tlv_with_the_wrong_length():
    frame = bytearray(zeroed_frame(ap.Trade, tlv=[ap.RawTLV(1, b"x" * 10)]))
    with pytest.raises(ap.TLVError, match="TLV PoolAddresses at byte 64 has tlv_length 10, its layout needs 42"):
        ap.decode(frame)


def test_defi_signal_tlv_position_must_match_its_tlvs():
    frame = bytearray(zeroed_frame(ap.DeFiSignal, tlv=[ap.RawTLV(9, b"ab")]))
    offset = 32 + MESSAGES[ap.MessageType.DeFiSignal].field("tlv_offset").offset
    frame[offset:offset + 2] = struct.pack("<H", 300)
    with pytest.raises(ap.TLVError, match=f"tlv_offset/tlv_length at byte {offset} say 300/4"):
        ap.decode(reseal(frame))


def test_iter_frames_reports_the_offset_of_the_bad_frame():
    good = zeroed_frame(ap.Trade, price=1)
    bad = bytearray(good)
    bad[40] ^= 1
    frames = ap.iter_frames(good + good + bytes(bad))
    assert next(frames).price == 1 and next(frames).price == 1
    with pytest.raises(ap.ChecksumError, match="frame at byte 128") as caught:
        next(frames)
    assert caught.value.frame_offset == 128 and frames.position == 128
    with pytest.raises(StopIteration):
        next(frames)


@pytest.mark.parametrize("kwargs, message", [
    ({"price": 2**63}, r"Trade.price \(frame offset 44, i64\): 9223372036854775808 is out of range"),
    ({"volume": -1}, r"Trade.volume \(frame offset 52, u64\): -1 is out of range \[0, "),
    ({"side": 256}, r"Trade.side \(frame offset 60, u8\): 256 is out of range \[0, 255\]"),
    ({"sequence": 2**64}, r"Trade header sequence \(frame offset 12, u64\)"),
    ({"source": -3}, r"Trade header source \(frame offset 6, u8\)"),
    ({"price": 1.5}, r"Trade.price .*expected an integer, got float 1.5"),
    ({"instrument_id": 5}, r"Trade.instrument_id .*expected an InstrumentId, got int"),
    ({"tlv": [b"raw"]}, r"tlv: expected TLV objects"),
])
def test_bad_field_values_on_build(kwargs, message):
    with pytest.raises(ap.FieldValueError, match=message):
        zeroed_frame(ap.Trade, **kwargs)
    with pytest.raises(ap.FieldValueError, match=message):
        zeroed(ap.Trade, **kwargs)


def _int_fields():
    for message_type, cls in ap.MESSAGE_CLASSES.items():
        layout = MESSAGES[message_type]
        for f in layout.value_fields:
            if (f.kind == "int" and f.type in ("u8", "u16", "u32", "u64")
                    and f.name not in layout.derived_fields):
                yield pytest.param(cls, f, id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize("cls, f", list(_int_fields()))
def test_a_build_error_names_its_field_and_its_offset_in_the_frame(cls, f):
    with pytest.raises(ap.FieldValueError, match="out of range") as caught:
        zeroed(cls, **{f.name: -1})
    assert (caught.value.field, caught.value.offset) == (f.name, 32 + f.offset)
    with pytest.raises(ap.FieldValueError) as caught:
        zeroed(cls, sequence=-1)
    assert (caught.value.field, caught.value.offset) == ("header.sequence", 12)


def test_bad_byte_arrays_text_and_tails_on_build():
    with pytest.raises(ap.FieldValueError, match=r"target_tx_hash .*expected 32 bytes, got 3"):
        zeroed_frame(ap.MEVOpportunity, target_tx_hash=b"abc")
    with pytest.raises(ap.FieldValueError, match="not valid hex"):
        zeroed_frame(ap.MEVOpportunity, target_tx_hash="0xzz")
    with pytest.raises(ap.FieldValueError, match=r"is above U\+00FF"):
        zeroed_frame(ap.StrategyAlert, text="caf\u20ac")
    with pytest.raises(ap.FieldValueError, match="do not fit in 32"):
        zeroed_frame(ap.StrategyAlert, text="x" * 33)
    with pytest.raises(ap.FieldValueError, match="exceed the maximum of 255"):
        zeroed_frame(ap.InstrumentDiscovered, symbol="x" * 256)
    with pytest.raises(ap.FieldValueError, match=r"bids\[1\]: expected a \(price, size\) pair"):
        zeroed_frame(ap.OrderBook, bids=[(1, 2), 3])
    with pytest.raises(ap.FieldValueError, match=r"expected 2\*\*127|out of range \[-2\*\*127"):
        zeroed_frame(ap.DeFiSignal, expected_profit_q=2**127)
    assert zeroed(ap.DeFiSignal, expected_profit_q=-(2**127)).expected_profit_q == -(2**127)
    assert zeroed(ap.DeFiSignal, amount_in_q=2**128 - 1).amount_in_q == 2**128 - 1
