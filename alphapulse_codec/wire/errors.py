"""The exceptions of the codec.

Every failure to decode or build a frame raises a subclass of ParseError, which is a
ValueError. ``offset`` is the byte offset in the input where the problem was found,
``frame_offset`` the offset of the frame it belongs to, ``field`` the field at fault
(all None where they do not apply). For a build, ``offset`` is the field's byte offset in the
frame being built.
"""
from __future__ import annotations

import re


class ParseError(ValueError):
    """A frame could not be decoded, or fields could not be built into one."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        frame_offset: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.frame_offset = frame_offset
        self.field = field


class BadMagicError(ParseError):
    """The 4 bytes at the start of a frame are not 0xDEADBEEF (EF BE AD DE)."""


class ChecksumError(ParseError):
    """The frame's CRC-32 does not match its checksum field."""


class TruncatedError(ParseError):
    """The input ends before the frame does."""


class FrameTooLargeError(ParseError):
    """payload_size announces a frame larger than the configured maximum."""


class UnknownMessageTypeError(ParseError):
    """No layout is known for the frame's message_type."""


class UnknownVersionError(ParseError):
    """The message type is known, but not at the frame's version."""


class LengthMismatchError(ParseError):
    """payload_size disagrees with the body, the tail lengths, or the input's length."""


class TLVError(ParseError):
    """A TLV extension runs past the end of its area, or has the wrong length for its type."""


class SchemaConflictError(ParseError):
    """Two layouts were announced for the frame's (type, version): it is read by neither."""


# How the builders name the place a value goes: "Trade.price (frame offset 44, i64)",
# "Trade header sequence (frame offset 12, u64)", "InstrumentDiscovered.symbol" (a tail)
_BUILD_PLACE = re.compile(
    r"(?P<message>\w+)(?:\.(?P<field>\w+)| header (?P<header>\w+))(?: \(frame offset (?P<offset>\d+),)?")


class FieldValueError(ParseError):
    """A value given to build a frame does not fit its field (range, length, ID rules).
    ``field`` is the field's name (``header.sequence`` for a header field) and ``offset`` its
    byte offset in the frame being built (None for a variable tail)."""

    def __init__(self, message: str, *, offset: int | None = None,
                 frame_offset: int | None = None, field: str | None = None) -> None:
        place = _BUILD_PLACE.match(field) if field else None
        if place:
            field = place["field"] or f"header.{place['header']}"
            if offset is None and place["offset"]:
                offset = int(place["offset"])
        super().__init__(message, offset=offset, frame_offset=frame_offset, field=field)


class MissingFieldError(FieldValueError, TypeError):
    """A message was built without a body field that has no default; ``missing`` names them
    all (``field`` the first). A TypeError too, as for any call without a required argument."""

    def __init__(self, message: str, *, missing: tuple[str, ...]) -> None:
        super().__init__(message, field=missing[0] if missing else None)
        self.missing = missing


class SchemaError(ValueError):
    """A schema is malformed, or cannot be registered (a conflict, an evolution rule broken)."""


class LayoutConflictError(SchemaError):
    """Another layout is registered for the schema's (type, version)."""


class MissingExtraError(ImportError):
    """A feature needs an optional package that is not installed; ``extra`` names the extra of
    alphapulse_codec that brings it (``pip install 'alphapulse_codec[EXTRA]'``)."""

    def __init__(self, message: str, *, name: str, extra: str) -> None:
        super().__init__(message, name=name)
        self.extra = extra


class ConfigError(ValueError):
    """A relay or dashboard configuration is refused. ``key`` is the dotted path of the key at
    fault (``alphapulse.execution.circuit_breaker``), ``source`` the file read (None for a
    mapping), ``line`` the key's line in it (None where unknown)."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.source = source
        self.line = line


__all__ = [
    "ParseError", "BadMagicError", "ChecksumError", "TruncatedError", "FrameTooLargeError",
    "UnknownMessageTypeError", "UnknownVersionError", "LengthMismatchError", "TLVError",
    "SchemaConflictError", "FieldValueError", "MissingFieldError", "SchemaError",
    "LayoutConflictError", "MissingExtraError", "ConfigError", "RelayError", "RelayRefusedError",
    "RelayClosedError", "RelayTimeoutError",
]


class RelayError(ConnectionError):
    """A relay cannot start, refused a client, or went away."""


class RelayRefusedError(RelayError):
    """The relay refused the client's hello; ``code`` is the RelayCode it gave."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class RelayClosedError(RelayError):
    """The relay closed the connection."""


class RelayTimeoutError(RelayError, TimeoutError):
    """Nothing came from the relay within the time asked for."""
