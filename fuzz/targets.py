"""The fuzz targets: each takes the fuzzer's bytes and returns normally, raises an allowed
exception (which the harness swallows), or fails with anything else (a finding).

Allowed: ParseError subclasses from the decoders; SchemaError (and ParseError for a frame
that does not decode) from Registry.learn. The streaming target also checks that a split
decode equals the whole one (rows, offsets, tails, where the bad stretches are).
"""
from __future__ import annotations

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import BatchResult, decode_batch
from alphapulse_codec.wire._codec import BatchDecoder
from alphapulse_codec.schemas.registry import default as default_registry

def _touch(message) -> None:
    repr(message)
    message.fields()
    message.tlv
    message.to_bytes()


def decode(data: bytes) -> None:
    for verify in (True, False):
        try:
            _touch(ap.decode(data, verify=verify))
        except ap.ParseError:
            pass


def iter_frames(data: bytes) -> None:
    for verify in (True, False):
        try:
            for message in ap.iter_frames(data, verify=verify):
                _touch(message)
        except ap.ParseError:
            pass


def _tiles(data: bytes, result: BatchResult) -> None:
    """Rows' frames and bad stretches, in offset order, cover every byte exactly once."""
    pieces = sorted([(s.offset, s.length) for s in result.errors] + [
        (offset, size + 32) for t in result.types
        for offset, size in zip(result.offsets(t).tolist(),
                                result[t]["header"]["payload_size"].tolist())])
    position = 0
    for offset, length in pieces:
        assert offset == position and length > 0, (offset, position, length)
        position += length
    assert position == len(data)


def decode_batch_target(data: bytes) -> None:
    """With the built-in schemas, and learning announcements into a registry without them
    (one with them takes long to make: one per input would slow the fuzzer tenfold)."""
    for verify, registry, learns in ((True, default_registry, False),
                                     (False, default_registry, False),
                                     (True, ap.Registry(builtins=False), True)):
        result = decode_batch(data, verify=verify, registry=registry, learn=learns)
        _tiles(data, result)
        for t in result.types:
            for row in range(len(result[t])):
                _touch(result.message(t, row))


def streaming(data: bytes) -> None:
    """The first bytes choose up to 4 split points; the rest is the capture."""
    if len(data) < 4:
        return
    head, capture = data[:4], data[4:]
    cuts = sorted({b * len(capture) // 255 for b in head})
    # the default registry, not learning: making a registry per input would slow the fuzzer
    # tenfold (the decode_batch target learns)
    registry = default_registry
    whole = decode_batch(capture, registry=registry, learn=False)
    decoder = BatchDecoder(True, None, None, registry)
    pending, base = b"", 0
    for start, end in zip([0] + cuts, cuts + [len(capture)]):
        chunk = pending + capture[start:end]
        consumed = decoder.feed(chunk, base, end == len(capture))
        pending, base = chunk[consumed:], base + consumed
    streamed = BatchResult(*decoder.take(), registry, [])
    assert pending == b""
    assert streamed.types == whole.types
    assert streamed.errors == whole.errors
    for t in whole.types:
        assert streamed[t].tobytes() == whole[t].tobytes()
        assert streamed.offsets(t).tolist() == whole.offsets(t).tolist()


def learn(data: bytes) -> None:
    """Registry.learn of the message a frame decodes to, into a registry without the
    built-in schemas (one with them takes long to make: one per input would slow the fuzzer)."""
    try:
        message = ap.decode(data)
    except ap.ParseError:
        return
    registry = ap.Registry(builtins=False)
    try:
        cls = registry.learn(message)
    except ap.SchemaError:
        return
    assert registry.decode(cls().to_bytes()) == cls()


TARGETS = {
    "decode": decode,
    "iter_frames": iter_frames,
    "decode_batch": decode_batch_target,
    "streaming": streaming,
    "learn": learn,
}
