"""The JSON mapping of frames (protocol section 8; the mapping of the shared conformance vectors).

``to_json(message)`` gives a dict ready for json.dumps; ``from_json(obj)`` gives the sealed
frame. Every frame that decodes maps to JSON that strict readers accept and that encodes back
to the same bytes. IDs are objects, byte arrays and variable bytes are ``"0x"`` + lowercase
hex, 128-bit integers are exact JSON integers, padding is left out. On encode, ``magic``,
``payload_size``, ``checksum`` and the fields that only count or locate a tail or the TLVs
(``symbol_len``, ``tlv_offset``, ...) are computed from the content; every other field must be
given, unless it has a declared default (header ``version`` and ``flags``, a TLV's reserved
bytes, a run-time schema field's declared default).

Numbers are the mapping, a contract with other implementations; ``to_json(message,
names=True)`` gives the name of every value an enum names instead (``"side": "Buy"``), and
``from_json`` takes either: an enum name in any case, or the number.
"""
from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, Protocol

from ._codec import MESSAGE_CLASSES, BookLevel, InstrumentId, Message, RuntimeMessage, crc32
from .enums import MessageType
from .errors import FieldValueError
from .layouts import HEADER, HEADER_SIZE, INSTRUMENT_ID, Field, MessageLayout
from .tlv import TYPED_TLVS, RawTLV, TypedTLV

_BUILDER_HEADER_FIELDS = ("sequence", "timestamp", "source", "version", "flags")
_REQUIRED_HEADER_FIELDS = ("sequence", "timestamp", "source")
_INVALID_UTF8 = "utf8_invalid"
_HEADER_NAMES = frozenset(f.name for f in HEADER.fields)


def _hex_text(raw: bytes) -> str:
    return "0x" + raw.hex()


def _named(field: Field, value: Any, names: bool) -> Any:
    if names and field.enum is not None:
        try:
            return field.enum(value).name
        except ValueError:  # a value no member names goes out as its number
            pass
    return value


def _json_value(field: Field, value: Any, names: bool = False) -> Any:
    if field.kind == "instrument_id":
        return {f.name: _named(f, getattr(value, f.name), names) for f in INSTRUMENT_ID.fields}
    if field.kind == "bytes":
        return _hex_text(value)
    return _named(field, value, names)


def _enum_number(field: Field, value: Any, where: str) -> Any:
    """The number of an enum field given by name (any case); any other value as it is, but a
    JSON true or false, which no integer field takes (the builders would read it as 1 or 0)."""
    if isinstance(value, bool):
        raise FieldValueError(f"{where}: expected a number, got {str(value).lower()}",
                              field=where)
    if field.enum is None or not isinstance(value, str):
        return value
    member = member_by_name(field.enum, value)
    if member is None:
        known = ", ".join(m.name for m in field.enum)
        raise FieldValueError(f"{where}: {value!r} is not a {field.enum.__name__} name: expected"
                              f" one of {known}, or a number", field=field.name)
    return int(member)


def member_by_name(enum: type[IntEnum], name: str) -> IntEnum | None:
    """The member of `enum` called `name`, in any case; None when there is none."""
    folded = name.casefold()
    return next((m for m in enum if m.name.casefold() == folded), None)


def _utf8_json(text: str) -> Any:
    # the decoder keeps bytes that are not UTF-8 as lone surrogates, which strict JSON readers
    # refuse: such a tail goes out as its bytes
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return {_INVALID_UTF8: _hex_text(text.encode("utf-8", "surrogateescape"))}
    return text


def to_json(message: Message, names: bool = False) -> dict[str, Any]:
    """The JSON object of a decoded or built message; with `names`, enum values as names."""
    layout: MessageLayout = type(message).layout
    header = message.header
    obj: dict[str, Any] = {
        "type": layout.name,
        "header": {f.name: _named(f, getattr(header, f.name), names) for f in HEADER.fields},
    }
    for f in layout.value_fields:
        obj[f.name] = _json_value(f, getattr(message, f.name), names)
    for tail in layout.tail:
        value = getattr(message, tail.name)
        if tail.kind == "bytes":
            value = _hex_text(value)
        elif tail.kind == "levels":
            value = [{"price": level.price, "size": level.size} for level in value]
        else:
            value = _utf8_json(value)
        obj[tail.name] = value
    if layout.carries_tlv:
        obj["tlv"] = [_tlv_json(t) for t in message.tlv]
    if getattr(message, "unseen_bytes", 0):
        obj["unseen"] = _hex_text(message.to_bytes()[HEADER_SIZE + layout.body_size:])
    return obj


def _tlv_fields_json(tlv: TypedTLV) -> dict[str, Any]:
    return {k: (_hex_text(v) if isinstance(v, bytes) else v) for k, v in tlv.fields().items()}


def _tlv_json(tlv: Any) -> dict[str, Any]:
    obj = {"tlv_type": tlv.tlv_type, "payload": _hex_text(tlv.payload)}
    if isinstance(tlv, TypedTLV):
        obj.update(_tlv_fields_json(tlv))
    return obj


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise FieldValueError(f"{where}: expected '0x' + hex, got {value!r}", field=where)
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise FieldValueError(f"{where}: {value!r} is not valid hex", field=where) from None


def _instrument_id(value: Any, where: str) -> InstrumentId:
    names = {f.name for f in INSTRUMENT_ID.fields}
    if not isinstance(value, dict) or set(value) != names:
        raise FieldValueError(
            f"{where}: expected an object with venue, asset_type, reserved, asset_id, got {value!r}",
            field=where)
    return InstrumentId(**{f.name: _enum_number(f, value[f.name], f"{where}.{f.name}")
                            for f in INSTRUMENT_ID.fields})


def _utf8_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldValueError(
                f"{where}: lone surrogates are not text; bytes that are not UTF-8 are given as"
                f" {{{_INVALID_UTF8!r}: '0x' + hex}}", field=where) from None
        return value
    if isinstance(value, dict) and set(value) == {_INVALID_UTF8}:
        raw = _hex(value[_INVALID_UTF8], f"{where}.{_INVALID_UTF8}")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            # the builders take text; surrogateescape carries each foreign byte through it
            return raw.decode("utf-8", "surrogateescape")
        raise FieldValueError(f"{where}: {_INVALID_UTF8} holds valid UTF-8; give it as a string",
                              field=where)
    raise FieldValueError(f"{where}: expected a string or {{{_INVALID_UTF8!r}: '0x' + hex}},"
                          f" got {value!r}", field=where)


def _builder_value(layout: MessageLayout, name: str, value: Any) -> Any:
    where = f"{layout.name}.{name}"
    tails = {t.name: t for t in layout.tail}
    if name in tails:
        kind = tails[name].kind
        if kind == "bytes":
            return _hex(value, where)
        if kind == "levels":
            try:
                return [BookLevel(level["price"], level["size"]) for level in value]
            except (TypeError, KeyError):
                raise FieldValueError(f"{where}: expected a list of {{price, size}} objects",
                                      field=where) from None
        return _utf8_text(value, where)
    field = layout.field(name)
    if field.kind == "instrument_id":
        return _instrument_id(value, where)
    if field.kind == "bytes":
        return _hex(value, where)
    return _enum_number(field, value, where)


def _tlv_object(item: Any, index: int) -> Any:
    where = f"tlv[{index}]"
    if not isinstance(item, dict) or "tlv_type" not in item:
        raise FieldValueError(f"{where}: expected an object with tlv_type and payload", field="tlv")
    tlv_type = item["tlv_type"]
    if not isinstance(tlv_type, int) or not 0 <= tlv_type <= 255:
        raise FieldValueError(f"{where}.tlv_type: {tlv_type!r} is not a byte", field="tlv")
    typed = TYPED_TLVS.get(tlv_type)
    names = set(typed._field_names) if typed is not None else set()
    unknown = set(item) - {"tlv_type", "payload"} - names
    if unknown:
        raise FieldValueError(f"{where}: unknown field {sorted(unknown)[0]!r} for TLV type"
                              f" {tlv_type}", field="tlv")
    if typed is None:
        if "payload" not in item:
            raise FieldValueError(f"{where}: missing field 'payload'", field="tlv")
        return RawTLV(tlv_type, _hex(item["payload"], f"{where}.payload"))
    if "payload" in item:
        # the payload is the wire; fields given beside it must say the same
        tlv = typed.from_payload(_hex(item["payload"], f"{where}.payload"))
        shown = _tlv_fields_json(tlv)
        for name in sorted(names & set(item)):
            if not _same_json(item[name], shown[name]):
                raise FieldValueError(f"{where}.{name}: {item[name]!r} disagrees with the payload,"
                                      f" which holds {shown[name]!r}", field="tlv")
        return tlv
    reserved = {f.name for f in typed.layout.fields if f.is_padding}
    missing = sorted(names - reserved - set(item))
    if missing:
        raise FieldValueError(f"{where}: missing field {missing[0]!r} (give the fields, or"
                              " the payload)", field="tlv")
    return typed(**{k: v for k, v in item.items() if k in names})


def _same_json(given: Any, shown: Any) -> bool:
    if isinstance(shown, str) and isinstance(given, str):
        return given.lower() == shown
    return type(given) is type(shown) and given == shown


class MessageCatalogue(Protocol):
    """What from_json needs to know of the types it may meet; a schemas.Registry is one."""

    def type_of_name(self, name: str) -> int: ...
    def message_class(self, message_type: int, version: int | None = None) -> type[Message]: ...


class _BuiltinCatalogue:
    """The built-in message types at their one version: the catalogue of the wire alone."""

    def type_of_name(self, name: str) -> int:
        return int(MessageType[name])

    def message_class(self, message_type: int, version: int | None = None) -> type[Message]:
        cls: type[Message] = MESSAGE_CLASSES[message_type]
        if version not in (None, 1):  # built-in types exist at version 1 only
            raise KeyError(version)
        return cls


BUILTIN_CATALOGUE = _BuiltinCatalogue()


def _reader_class(registry: MessageCatalogue, message_type: int, version: int) -> type[Message]:
    """The class that reads a frame of `version`, which has no schema of its own: the newest
    earlier run-time schema without a tail (protocol section 9)."""
    for earlier in range(version - 1, 0, -1):
        try:
            cls = registry.message_class(message_type, earlier)
        except KeyError:
            continue
        if issubclass(cls, RuntimeMessage) and not cls.layout.tail:
            return cls
    raise KeyError(version)


def _declared_defaults(cls: type[Message]) -> set[str]:
    schema = getattr(cls, "schema", None)  # run-time schema classes carry theirs
    return set(schema.defaults) if schema is not None else set()


def from_json(obj: Any, registry: MessageCatalogue = BUILTIN_CATALOGUE) -> bytes:
    """The sealed frame of a JSON object in the mapping (types by name: MessageType names,
    and the names of the run-time schemas when `registry` is a schemas.Registry)."""
    if not isinstance(obj, dict):
        raise FieldValueError(f"expected a JSON object, got {type(obj).__name__}")
    name = obj.get("type")
    header = obj.get("header", {})
    if not isinstance(header, dict):
        raise FieldValueError("header: expected an object", field="header")
    header = {key: _enum_number(HEADER.field(key), value, f"header.{key}")
              if key in _HEADER_NAMES else value for key, value in header.items()}
    version = header.get("version")
    try:
        message_type = registry.type_of_name(name)
        try:
            cls = registry.message_class(message_type, version)
        except KeyError:
            if not isinstance(version, int) or not 1 <= version <= 255:
                raise
            cls = _reader_class(registry, message_type, version)
    except (KeyError, TypeError):
        raise FieldValueError(f"type: {name!r} is not a message type with a schema"
                              + (f" at version {version!r}" if "version" in header else ""),
                              field="type") from None
    layout = cls.layout
    unknown = set(header) - {f.name for f in HEADER.fields}
    if unknown:
        raise FieldValueError(f"header: unknown field {sorted(unknown)[0]!r}", field="header")
    if "message_type" in header and header["message_type"] != message_type:
        raise FieldValueError(
            f"header.message_type {header['message_type']!r} disagrees with type {name}",
            field="message_type")
    # a frame of a version with no schema of its own, read by an earlier one
    later_version = version if isinstance(version, int) and _is_later(cls, version) else None

    body_names = {f.name for f in layout.value_fields}
    tail_names = [t.name for t in layout.tail]
    computed = layout.derived_fields
    kwargs: dict[str, Any] = {}
    unseen = b""
    for key, value in obj.items():
        if key in ("type", "header") or key in computed:
            continue
        if key == "tlv" and layout.carries_tlv:
            if not isinstance(value, list):
                raise FieldValueError("tlv: expected a list", field="tlv")
            kwargs["tlv"] = [_tlv_object(item, i) for i, item in enumerate(value)]
        elif key == "unseen" and later_version is not None:
            unseen = _hex(value, "unseen")
        elif key in body_names or key in tail_names:
            kwargs[key] = _builder_value(layout, key, value)
        else:
            raise FieldValueError(f"{layout.name}: unknown field {key!r}", field=key)
    missing = [key for key in _REQUIRED_HEADER_FIELDS if key not in header]
    if missing:
        raise FieldValueError(f"header: missing field {missing[0]!r}", field=missing[0])
    required = [f.name for f in layout.value_fields if f.name not in computed] + tail_names
    defaults = _declared_defaults(cls)
    missing = [key for key in required if key not in kwargs and key not in defaults]
    if missing:
        raise FieldValueError(f"{layout.name}: missing field {missing[0]!r} (only computed fields"
                              " and fields with a declared default may be left out)",
                              field=missing[0])
    for key in _BUILDER_HEADER_FIELDS:
        if key in header and not (key == "version" and later_version is not None):
            kwargs[f"header_{key}" if key in body_names else key] = header[key]
    frame = cls.encode(**kwargs)
    if later_version is not None:
        frame = _as_later_version(frame, later_version, unseen)
    return frame


def _is_later(cls: type[Message], version: int) -> bool:
    schema = getattr(cls, "schema", None)
    return schema is not None and version > schema.version


def _as_later_version(frame: bytes, version: int, unseen: bytes) -> bytes:
    """The frame of a later version that an earlier schema read: its version byte, and the
    bytes that schema did not see after its body, as they were."""
    out = bytearray(frame + unseen)
    out[5] = version
    struct.pack_into("<I", out, 8, len(out) - HEADER_SIZE)
    struct.pack_into("<I", out, 28, crc32(out[HEADER_SIZE:], crc32(out[:28])))
    return bytes(out)
