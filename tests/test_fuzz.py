"""Mutated frames: every decode entry point returns a decode or raises a ParseError subclass.

Structural mutations have their checksum computed again (strategies.reseal), so that with
verification on they pass the CRC and reach the checks after it: lengths, tail counts, TLVs.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from alphapulse_codec.schemas.registry import default as default_registry
from alphapulse_codec.wire.layouts import MESSAGES
from strategies import frames, reseal, structural_mutation
from frames import zeroed_frame

LAYOUTS = list(MESSAGES.values())


def _all_entry_points(data: bytes) -> None:
    for verify in (True, False):
        try:
            message = ap.decode(data, verify=verify)
        except ap.ParseError:
            pass
        else:
            _touch(message)
        try:
            for message in ap.iter_frames(data, verify=verify):
                _touch(message)
        except ap.ParseError:
            pass
    for verify in (True, False):
        result = decode_batch(data, verify=verify, registry=fresh_registry(data))
        for message_type in result.types:
            for row in range(len(result[message_type])):
                _touch(result.message(message_type, row))
        check_accounting(data, result)
    for parse in (ap.parse_tlvs, lambda d: ap.find_tlv(d, 1)):
        try:
            parse(data)
        except ap.ParseError:
            pass


def fresh_registry(data: bytes) -> ap.Registry:
    """A registry of its own where the input may hold announcements, which register schemas
    in it; the default registry (which nothing here changes) elsewhere, as making a registry
    takes a while."""
    announcement = struct.pack("<IB", 0xDEADBEEF, ap.MessageType.SchemaAnnouncement)
    return ap.Registry() if announcement in data else default_registry


def _touch(message: ap.Message) -> None:
    """Read every field, tail and TLV: a decoded message must be safe to read whole."""
    repr(message)
    repr(message.header)
    message.fields()
    tlvs = message.tlv
    if tlvs:
        message.find_tlv(tlvs[-1].tlv_type)
    assert message.to_bytes() == bytes(message.to_bytes())
    assert message.size == len(message.to_bytes())


def check_accounting(data: bytes, result) -> None:
    """The invariant of a batch decode: its rows' frames and its bad stretches, in offset
    order, tile the input exactly. Each byte is in one good frame or one bad stretch, none is
    in two, none is left out; bad stretches are never empty, and two never touch (touching
    ones are reported as one)."""
    pieces = []
    for message_type in result.types:
        rows = result[message_type]
        sizes = rows["header"]["payload_size"].astype("int64") + 32
        for offset, size in zip(result.offsets(message_type).tolist(), sizes.tolist()):
            pieces.append((offset, size, "frame"))
    pieces += [(stretch.offset, stretch.length, "bad") for stretch in result.errors]
    pieces.sort()
    position = 0
    for offset, length, what in pieces:
        assert offset == position, f"{what} at {offset}, expected {position}: {pieces}"
        assert length > 0
        position += length
    assert position == len(data)
    stretches = result.errors
    assert all(a.offset + a.length < b.offset for a, b in zip(stretches, stretches[1:]))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(frames()))
    mutation = draw(st.sampled_from(["flip", "cut", "extend", "payload_size", "tlv_length", "splice"]))
    if mutation == "flip":
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(frame) - 1))
            frame[position] ^= 1 << draw(st.integers(0, 7))
    elif mutation == "cut":
        frame = frame[:draw(st.integers(0, len(frame)))]
    elif mutation == "extend":
        frame += draw(st.binary(min_size=1, max_size=64))
    elif mutation == "payload_size":
        size = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(0, len(frame) + 64)))
        frame[8:12] = struct.pack("<I", size)
    elif mutation == "tlv_length" and len(frame) > 66:
        position = draw(st.integers(32, len(frame) - 1))
        frame[position] = draw(st.integers(0, 255))
    else:
        frame = frame + draw(frames())
    return bytes(frame)


@given(mutated())
def test_mutated_frames_never_escape_parse_error(data):
    _all_entry_points(data)


@given(st.binary(max_size=400))
def test_random_bytes_never_escape_parse_error(data):
    _all_entry_points(data)


@settings(max_examples=60)
@given(st.sampled_from(LAYOUTS), st.binary(max_size=300))
def test_random_bytes_behind_a_valid_header_of_every_type(layout, tail):
    """Random bodies behind a header whose checksum matches: verification lets them through
    to the structure checks."""
    header = struct.pack("<IBBBBIQQI", 0xDEADBEEF, int(layout.message_type), 1, 0, 0,
                         len(tail), 0, 0, 0)
    _all_entry_points(reseal(header + tail))


# ---------------------------------------------------------------- resealed mutations

def _outcome(data: bytes, verify: bool):
    try:
        message = ap.decode(data, verify=verify)
    except ap.ParseError as error:
        return type(error)
    _touch(message)
    return message


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@settings(max_examples=15)
@given(data=st.data())
def test_resealed_mutations_reach_the_structure_checks(layout, data):
    """Every type, its structure damaged and its checksum right: decode returns a message
    that reads whole, or a ParseError other than a checksum mismatch; verification changes
    nothing (the checksum is right)."""
    frame = data.draw(structural_mutation(layout))
    outcome = _outcome(frame, verify=True)
    event(outcome.__name__ if isinstance(outcome, type) else "decoded")
    assert outcome is not ap.ChecksumError
    assert outcome == _outcome(frame, verify=False)
    _all_entry_points(frame)


def _sealed(cls, **fields) -> bytearray:
    return bytearray(zeroed_frame(cls, **fields))


def test_each_structure_check_is_reached_with_verification_on():
    """One resealed mutation per check, each refused by that check and not by the checksum."""
    book = _sealed(ap.OrderBook, bids=[(1, 2)], asks=[(3, 4)])
    book[32 + MESSAGES[ap.MessageType.OrderBook].field("bid_count").offset] = 2
    trade = _sealed(ap.Trade, tlv=[ap.RawTLV(tlv_type=9, payload=b"abcd")])
    trade[65] = 9                                        # the TLV claims 9 bytes, 4 follow
    wrong_typed = _sealed(ap.Trade, tlv=[ap.RawTLV(tlv_type=9, payload=b"x" * 42)])
    wrong_typed[64] = 2                                   # TertiaryVenue takes 30 bytes, not 42
    signal = _sealed(ap.DeFiSignal, tlv=[ap.RawTLV(tlv_type=9, payload=b"abcd")])
    struct.pack_into("<H", signal, 304, 300)              # tlv_offset is 312
    short = _sealed(ap.Quote)
    del short[-8:]
    struct.pack_into("<I", short, 8, len(short) - 32)
    version = _sealed(ap.Fill)
    version[5] = 2
    unknown = _sealed(ap.Fill)
    unknown[4] = 99
    expected = [(book, ap.LengthMismatchError), (trade, ap.TLVError), (wrong_typed, ap.TLVError),
                (signal, ap.TLVError), (short, ap.LengthMismatchError),
                (version, ap.UnknownVersionError), (unknown, ap.UnknownMessageTypeError)]
    for frame, error in expected:
        if error not in (ap.UnknownVersionError, ap.UnknownMessageTypeError):  # checked before it
            with pytest.raises(ap.ChecksumError):
                ap.decode(bytes(frame))
        with pytest.raises(error):
            ap.decode(reseal(frame))


def test_reseal_gives_the_checksum_a_builder_gives():
    frame = zeroed_frame(ap.Trade, price=5, sequence=9, tlv=[ap.RawTLV(tlv_type=7, payload=b"z")])
    damaged = bytearray(frame)
    damaged[28:32] = b"\0\0\0\0"
    assert reseal(damaged) == frame


# ---------------------------------------------------------------- frames back to back

captures = st.lists(st.one_of(frames(), structural_mutation(), st.binary(max_size=40)),
                    min_size=1, max_size=6).map(b"".join)


@settings(max_examples=80)
@given(captures)
def test_frame_iterator_agrees_with_batch_decode(data):
    """iter_frames yields the frames up to the first bad one, each readable, and those are
    the first rows of a batch decode, at the same offsets; its error is raised where the
    batch decode's first bad stretch starts."""
    registry = default_registry
    result = decode_batch(data, registry=registry, learn=False)
    check_accounting(data, result)
    rows = sorted((offset, message_type) for message_type in result.types
                  for offset in result.offsets(message_type).tolist())
    iterator = ap.iter_frames(data, registry=registry)
    seen = []
    try:
        for message in iterator:
            _touch(message)
            seen.append((iterator.position - message.size, message.header.message_type))
    except ap.ParseError as error:
        assert error.frame_offset == iterator.position
        assert result.errors and result.errors[0].offset == iterator.position
    else:
        assert iterator.position == len(data)
        assert not result.errors
    assert seen == rows[:len(seen)]
    for message_type in result.types:
        for row in range(len(result[message_type])):
            message = registry.decode(result.frame(message_type, row))   # verified again
            assert message == result.message(message_type, row)
