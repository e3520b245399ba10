"""Hypothesis strategies for every message type, derived from layouts.py."""
from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire.layouts import MESSAGES, Field, MessageLayout
from alphapulse_codec.wire.tlv import TYPED_TLVS

instrument_ids = st.builds(
    ap.InstrumentId,
    venue=st.integers(0, 0xFFFF),
    asset_type=st.integers(0, 0xFF),
    asset_id=st.integers(0, 2**64 - 1),
    reserved=st.integers(0, 0xFF),
)

raw_tlvs = st.builds(
    ap.RawTLV,
    tlv_type=st.integers(0, 255).filter(lambda t: t not in TYPED_TLVS),
    payload=st.binary(max_size=40),
)
typed_tlvs = st.one_of(
    st.builds(ap.PoolAddressTLV, venue_a_pool=st.binary(min_size=20, max_size=20),
              venue_b_pool=st.binary(min_size=20, max_size=20),
              reserved=st.binary(min_size=2, max_size=2)),
    st.builds(ap.TertiaryVenueTLV, venue_c_router=st.binary(min_size=20, max_size=20),
              venue_c_type=st.integers(0, 255), fee_c_ppm=st.integers(0, 2**32 - 1),
              reserved=st.binary(min_size=5, max_size=5)),
    st.builds(ap.MEVBundleTLV, target_builder=st.integers(0, 2**32 - 1),
              bundle_uuid=st.integers(0, 2**32 - 1), max_bundle_size=st.integers(0, 255),
              priority_fee_gwei=st.integers(0, 2**64 - 1), target_block_range=st.integers(0, 255),
              submission_strategy=st.integers(0, 255),
              relay_preferences=st.integers(0, 2**64 - 1)),
)


def field_values(field: Field) -> st.SearchStrategy[Any]:
    if field.kind == "instrument_id":
        return instrument_ids
    if field.kind == "bytes":
        return st.binary(min_size=field.size, max_size=field.size)
    if field.kind == "ascii":
        # one byte per character; a trailing NUL would read back as padding
        return st.text(st.characters(min_codepoint=0, max_codepoint=255),
                       max_size=field.size).filter(lambda text: not text.endswith("\0"))
    bits = 8 * field.size
    if field.signed:
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


def _tail_values(kind: str, canonical_json: bool = False) -> st.SearchStrategy[Any]:
    if canonical_json:
        return st.text(max_size=30).map(json.dumps)
    if kind == "utf8":
        return st.text(max_size=30)
    if kind == "bytes":
        return st.binary(max_size=60)
    return st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)),
                    max_size=5)


def builder_kwargs(layout: MessageLayout) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for the class of `layout`: every body field, tail, header field."""
    parts: dict[str, st.SearchStrategy[Any]] = {
        f.name: field_values(f) for f in layout.value_fields if f.name not in layout.derived_fields
    }
    for tail in layout.tail:
        parts[tail.name] = _tail_values(tail.kind, tail.canonical_json)
    body = {f.name for f in layout.value_fields}
    for name, bits in (("sequence", 64), ("timestamp", 64), ("source", 8), ("version", 8),
                       ("flags", 8)):
        parts[f"header_{name}" if name in body else name] = st.integers(0, (1 << bits) - 1)
    # built-in schemas are version 1; decode refuses others
    parts["header_version" if "version" in body else "version"] = st.just(1)
    if layout.carries_tlv:
        parts["tlv"] = st.lists(st.one_of(raw_tlvs, typed_tlvs), max_size=3)
    return st.fixed_dictionaries(parts)


def frames(layout: MessageLayout | None = None) -> st.SearchStrategy[bytes]:
    """Sealed frames of one type, or of any type."""
    if layout is None:
        return st.sampled_from(list(MESSAGES.values())).flatmap(frames)
    cls = ap.MESSAGE_CLASSES[layout.message_type]
    return builder_kwargs(layout).map(lambda kwargs: cls.encode(**kwargs))


# ---------------------------------------------------------------- structural mutations
#
# A mutated frame whose checksum is computed again passes the CRC check, so decoding it with
# verification on reaches the checks after it: lengths, tail counts, TLVs, their locators.

CHECKSUM_AT = 28
PAYLOAD_SIZE_AT = 8


def reseal(frame: bytes | bytearray) -> bytes:
    """`frame` with its checksum recomputed as docs/protocol.md section 2 says: the CRC-32 of
    bytes [0, 28) then [32, 32 + payload_size), as far as the frame holds them."""
    frame = bytearray(frame)
    if len(frame) < 32:
        return bytes(frame)
    payload_size = struct.unpack_from("<I", frame, PAYLOAD_SIZE_AT)[0]
    crc = ap.crc32(frame[32:32 + payload_size], ap.crc32(frame[:CHECKSUM_AT]))
    struct.pack_into("<I", frame, CHECKSUM_AT, crc)
    return bytes(frame)


def _set_size(frame: bytearray) -> None:
    struct.pack_into("<I", frame, PAYLOAD_SIZE_AT, len(frame) - 32)


def _count_values(width: int) -> st.SearchStrategy[int]:
    top = (1 << (8 * width)) - 1
    return st.one_of(st.integers(0, 40), st.integers(0, top), st.sampled_from([top, top - 1]))


MUTATIONS = ("payload_size", "count", "tail_length", "tlv_area", "tlv_locator", "version",
             "message_type", "body_byte")


@st.composite
def structural_mutation(draw: st.DrawFn, layout: MessageLayout | None = None) -> bytes:
    """A sealed frame of `layout` (any type when None) with its structure damaged, then its
    checksum recomputed: sizes, tail counts, tail lengths, TLV areas and locators, version,
    type. Most often payload_size is made to match the frame's length again, so that the
    checks after the size reach the damage."""
    if layout is None:
        layout = draw(st.sampled_from(list(MESSAGES.values())))
    frame = bytearray(draw(frames(layout)))
    body = 32
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(MUTATIONS))
        if mutation == "payload_size":
            size = draw(st.one_of(st.integers(0, len(frame) + 64),
                                  st.integers(max(0, len(frame) - 40), len(frame) + 8),
                                  st.integers(0, 2**32 - 1)))
            struct.pack_into("<I", frame, PAYLOAD_SIZE_AT, size)
            continue  # a size of its own: not set again below
        if mutation == "count" and layout.tail:
            tail = draw(st.sampled_from(layout.tail))
            field = layout.field(tail.count_field)
            if body + field.offset + field.size > len(frame):  # cut off by a mutation before
                continue
            value = draw(_count_values(field.size))
            frame[body + field.offset:body + field.offset + field.size] = value.to_bytes(
                field.size, "little")
        elif mutation == "tail_length":
            end = body + layout.body_size
            if draw(st.booleans()) and len(frame) > end - 8:
                cut = draw(st.integers(max(body, end - 8), len(frame)))
                del frame[cut:]
            else:
                frame += draw(st.binary(min_size=1, max_size=48))
        elif mutation == "tlv_area" and layout.carries_tlv:
            start = body + layout.body_size
            area = draw(st.one_of(
                st.binary(max_size=64),
                st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4, 100, 255]),
                                   st.integers(0, 60)), max_size=3).map(
                    lambda pairs: b"".join(bytes([t, n]) + bytes(n) for t, n in pairs)),
                st.just(bytes(frame[start:])).flatmap(
                    lambda old: st.integers(0, max(0, len(old) - 1)).map(
                        lambda i: old[:i] + bytes([old[i] ^ 0xFF]) + old[i + 1:] if old else b"\x01")),
            ))
            if draw(st.booleans()) and len(frame) > start:
                area = bytes(frame[start:draw(st.integers(start, len(frame)))]) + area
            frame[start:] = area
        elif mutation == "tlv_locator" and layout.tlv_position_fields:
            for name in layout.tlv_position_fields:
                at = body + layout.field(name).offset
                if at + 2 > len(frame):  # cut off by a mutation before
                    continue
                value = draw(st.one_of(st.integers(0, 0xFFFF), st.sampled_from(
                    [0, 32 + layout.body_size, len(frame) - 32 - layout.body_size])))
                struct.pack_into("<H", frame, at, value & 0xFFFF)
        elif mutation == "version":
            frame[5] = draw(st.one_of(st.sampled_from([0, 1, 2, 255]), st.integers(0, 255)))
        elif mutation == "message_type":
            frame[4] = draw(st.one_of(st.sampled_from(sorted(int(t) for t in MESSAGES)),
                                      st.integers(0, 255)))
        else:
            # any byte of the body (counts and locators included, by chance)
            if len(frame) > body:
                at = draw(st.integers(body, len(frame) - 1))
                frame[at] = draw(st.integers(0, 255))
        if draw(st.integers(0, 9)) < 8:
            _set_size(frame)
    return reseal(frame)
