"""Mutated frames: every decode entry point returns a decode or raises a ParseError subclass."""
from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from strategies import frames


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
        # a fresh registry: announcements in the input may register schemas
        result = decode_batch(data, verify=verify, registry=ap.Registry())
        for message_type in result.types:
            for row in range(len(result[message_type])):
                _touch(result.message(message_type, row))
        assert all(stretch.length > 0 for stretch in result.errors)
    for parse in (ap.parse_tlvs, lambda d: ap.find_tlv(d, 1)):
        try:
            parse(data)
        except ap.ParseError:
            pass


def _touch(message: ap.Message) -> None:
    """Read every field, tail and TLV: a decoded message must be safe to read whole."""
    repr(message)
    message.fields()
    message.tlv
    message.to_bytes()


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


@given(st.binary(max_size=300))
def test_random_bytes_behind_a_valid_header(tail):
    header = struct.pack("<IBBBBIQQI", 0xDEADBEEF, 37, 1, 0, 0, len(tail), 0, 0, 0)
    _all_entry_points(header + tail)
