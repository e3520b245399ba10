"""The streaming batch decoder, fed a capture in chunks split at random points, decodes
exactly what a decode of the whole capture does: rows, offsets, tails and bad stretches."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import (DEFAULT_MAX_ANNOUNCEMENTS, DEFAULT_MAX_SCHEMA_BYTES,
                                            BatchResult, _decoder, decode_batch)
from alphapulse_codec.schemas.registry import default as default_registry
from frames import zeroed_frame
from strategies import frames, structural_mutation
from test_fuzz import check_accounting, fresh_registry

ANNOUNCED = ap.Schema(message_type=230, version=1, name="Announced",
                      fields=[("n", "u8"), ("b", "i64")], tail=[("note", "n", "bytes")])


@st.composite
def captures(draw: st.DrawFn) -> bytes:
    """Good frames of every type mixed with garbage, damaged frames and cut frames, and a
    schema announcement with frames of its schema after it."""
    parts = draw(st.lists(st.one_of(
        frames(), frames(), structural_mutation(), st.binary(min_size=1, max_size=50),
        frames().flatmap(lambda f: st.integers(1, len(f) - 1).map(lambda n: f[:n])),
        st.just(ANNOUNCED.announce()),
    ), min_size=1, max_size=12))
    if draw(st.booleans()):
        registry = ap.Registry()
        cls = registry.register(ANNOUNCED)
        parts.insert(draw(st.integers(0, len(parts))),
                     cls(b=-1, note=b"xyz", sequence=1).to_bytes())
    return b"".join(parts)


def _stream(data: bytes, cuts: list[int], registry: ap.Registry, learn: bool) -> BatchResult:
    """Feed `data` to the decoder as iter_batches does, in the chunks that `cuts` delimit: the
    bytes a feed does not consume (a frame cut by the chunk's end) go again with the next."""
    decoder, learner = _decoder(True, None, None, registry, learn, None,
                                DEFAULT_MAX_ANNOUNCEMENTS, DEFAULT_MAX_SCHEMA_BYTES)
    pending, base = b"", 0
    for start, end in zip([0] + cuts, cuts + [len(data)]):
        chunk = pending + data[start:end]
        final = end == len(data)
        consumed = decoder.feed(chunk, base, final)
        assert consumed == len(chunk) if final else 0 <= consumed <= len(chunk)
        pending = chunk[consumed:]
        base += consumed
    assert pending == b""
    return BatchResult(*decoder.take(), learner.registry, learner.take())


def _same(whole: BatchResult, streamed: BatchResult) -> None:
    """The same rows, offsets, tails, and bad stretches of the same kinds at the same places."""
    assert streamed.types == whole.types
    assert streamed.errors == whole.errors
    assert streamed.refused_schemas == whole.refused_schemas
    for message_type in whole.types:
        for version in whole.versions(message_type):
            a, b = whole[message_type, version], streamed[message_type, version]
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        np.testing.assert_array_equal(streamed.offsets(message_type), whole.offsets(message_type))
        for row in range(len(whole[message_type])):
            assert streamed.tail(message_type, row) == whole.tail(message_type, row)


@settings(max_examples=120)
@given(captures(), st.data(), st.booleans())
def test_random_chunk_splits_decode_as_the_whole(data, draw, learn):
    cuts = sorted(set(draw.draw(st.lists(st.integers(0, len(data)), max_size=8))))
    whole = decode_batch(data, registry=fresh_registry(data), learn=learn)
    check_accounting(data, whole)
    streamed = _stream(data, cuts, fresh_registry(data), learn)
    _same(whole, streamed)


def test_a_checksum_failure_before_a_chunk_end_keeps_its_kind():
    damaged = bytearray(zeroed_frame(ap.Trade, price=1))
    damaged[40] ^= 1
    data = zeroed_frame(ap.Trade) + bytes(damaged) + zeroed_frame(ap.Trade)[:20]
    whole = decode_batch(data, registry=default_registry)
    assert [s.kind for s in whole.errors] == ["checksum_mismatch"]
    split = _stream(data, [64 + 64 + 10], default_registry, False)   # cut 10 bytes past its end
    assert split.errors == whole.errors


def test_a_checksum_failure_at_a_chunk_end_keeps_its_kind():
    damaged = bytearray(zeroed_frame(ap.Trade, price=1))
    damaged[40] ^= 1
    data = zeroed_frame(ap.Trade) + bytes(damaged) + bytes(40)
    whole = decode_batch(data, registry=default_registry)
    assert [s.kind for s in whole.errors] == ["checksum_mismatch"]
    split = _stream(data, [64 + 64 + 1], default_registry, False)   # cut 1 byte past its end
    assert split.errors == whole.errors


def test_a_checksum_failure_with_a_magic_cut_by_the_chunk_end_keeps_its_kind():
    damaged = bytearray(zeroed_frame(ap.Trade, price=1))
    damaged[60:64] = b"\xef\xbe\xad\xde"   # a header start that the chunk's end cuts
    data = zeroed_frame(ap.Trade) + bytes(damaged) + bytes(40)
    whole = decode_batch(data, registry=default_registry)
    assert [s.kind for s in whole.errors] == ["checksum_mismatch"]
    split = _stream(data, [64 + 64], default_registry, False)
    assert split.errors == whole.errors


@settings(max_examples=30)
@given(captures())
def test_one_byte_chunks_decode_as_the_whole(data):
    whole = decode_batch(data, registry=fresh_registry(data))
    _same(whole, _stream(data, list(range(1, len(data))), fresh_registry(data), True))

