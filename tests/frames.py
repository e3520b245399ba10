"""Frames as a producer that checks nothing would send them, for tests of what receivers do."""
from __future__ import annotations

import alphapulse_codec as ap


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
