"""Frames as a producer that checks nothing would send them, for tests of what receivers do."""
from __future__ import annotations

import alphapulse_codec as ap
from alphapulse_codec.wire.layouts import Tail


def reseal(frame: bytes | bytearray) -> bytes:
    """The frame with its payload_size and checksum made to fit its bytes again."""
    out = bytearray(frame)
    out[8:12] = (len(out) - 32).to_bytes(4, "little")
    out[28:32] = ap.crc32(bytes(out[32:]), ap.crc32(bytes(out[:28]))).to_bytes(4, "little")
    return bytes(out)


def raw_announcement(spec: str | bytes, schema_type: int = 220, version: int = 1,
                     extends: int = 0) -> bytes:
    """A SchemaAnnouncement carrying `spec` as it is, canonical JSON or not."""
    text = spec.encode("utf-8", "surrogatepass") if isinstance(spec, str) else spec
    head = ap.SchemaAnnouncement.encode(schema_type=schema_type, schema_version=version,
                                        extends_version=extends, spec="[]")[:36]
    return reseal(head + len(text).to_bytes(4, "little") + text)


def _zero(part):
    if isinstance(part, Tail):  # a tail that must be given is canonical JSON
        return "[]"
    return {"int": 0, "instrument_id": ap.InstrumentId(), "bytes": b"", "ascii": ""}[part.kind]


def zeros(cls: type[ap.Message]) -> dict[str, object]:
    """Zero for every field `cls` requires: for tests whose subject is not the body."""
    layout = cls.layout
    parts = {f.name: f for f in layout.value_fields} | {t.name: t for t in layout.tail}
    return {name: _zero(parts[name]) for name in layout.required_fields}


def zeroed(cls: type[ap.Message], **fields: object) -> ap.Message:
    """A message of `cls` with `fields`, the other required ones zero."""
    return cls(**(zeros(cls) | fields))


def zeroed_frame(cls: type[ap.Message], **fields: object) -> bytes:
    """The frame of zeroed(cls, **fields)."""
    return zeroed(cls, **fields).to_bytes()
