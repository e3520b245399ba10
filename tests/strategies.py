"""Hypothesis strategies for every message type, derived from layouts.py."""
from __future__ import annotations

import json
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
