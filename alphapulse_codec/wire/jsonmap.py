"""The JSON mapping of frames (the mapping of the shared conformance vectors).

``to_json(message)`` gives a dict ready for json.dumps; ``from_json(obj)`` gives the sealed
frame. IDs are objects, byte arrays and variable bytes are ``"0x"`` + lowercase hex, 128-bit
integers are exact JSON integers, padding is left out. On encode, ``magic``,
``payload_size``, ``checksum`` and the fields that only count or locate a tail or the TLVs
(``symbol_len``, ``tlv_offset``, ...) are computed from the content, so a hand-edited object
needs no arithmetic.
"""
from __future__ import annotations

from typing import Any, Protocol

from ._codec import MESSAGE_CLASSES, BookLevel, InstrumentId, Message
from .enums import MessageType
from .errors import FieldValueError
from .layouts import HEADER, INSTRUMENT_ID, Field, MessageLayout
from .tlv import TYPED_TLVS, RawTLV, TypedTLV, tlv_from_wire

_COMPUTED_HEADER_FIELDS = {"magic", "payload_size", "checksum", "message_type"}
_BUILDER_HEADER_FIELDS = ("sequence", "timestamp", "source", "version", "flags")


def _json_value(field: Field, value: Any) -> Any:
    if field.kind == "instrument_id":
        return {f.name: getattr(value, f.name) for f in INSTRUMENT_ID.fields}
    if field.kind == "bytes":
        return "0x" + value.hex()
    return value


def to_json(message: Message) -> dict[str, Any]:
    """The JSON object of a decoded or built message."""
    layout: MessageLayout = type(message).layout
    header = message.header
    obj: dict[str, Any] = {
        "type": layout.name,
        "header": {f.name: getattr(header, f.name) for f in HEADER.fields},
    }
    for f in layout.value_fields:
        obj[f.name] = _json_value(f, getattr(message, f.name))
    for tail in layout.tail:
        value = getattr(message, tail.name)
        if tail.kind == "bytes":
            value = "0x" + value.hex()
        elif tail.kind == "levels":
            value = [{"price": level.price, "size": level.size} for level in value]
        obj[tail.name] = value
    if layout.carries_tlv:
        obj["tlv"] = [_tlv_json(t) for t in message.tlv]
    return obj


def _tlv_json(tlv: Any) -> dict[str, Any]:
    obj = {"tlv_type": tlv.tlv_type, "payload": "0x" + tlv.payload.hex()}
    if isinstance(tlv, TypedTLV):
        obj.update({k: ("0x" + v.hex() if isinstance(v, bytes) else v)
                    for k, v in tlv.fields().items()})
    return obj


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise FieldValueError(f"{where}: expected '0x' + hex, got {value!r}", field=where)
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise FieldValueError(f"{where}: {value!r} is not valid hex", field=where) from None


def _instrument_id(value: Any, where: str) -> InstrumentId:
    if not isinstance(value, dict) or set(value) - {f.name for f in INSTRUMENT_ID.fields}:
        raise FieldValueError(
            f"{where}: expected an object with venue, asset_type, reserved, asset_id, got {value!r}",
            field=where)
    return InstrumentId(**value)


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
        return value
    field = layout.field(name)
    if field.kind == "instrument_id":
        return _instrument_id(value, where)
    if field.kind == "bytes":
        return _hex(value, where)
    return value


def _tlv_object(item: Any, index: int) -> Any:
    where = f"tlv[{index}]"
    if not isinstance(item, dict) or "tlv_type" not in item or "payload" not in item:
        raise FieldValueError(f"{where}: expected an object with tlv_type and payload", field="tlv")
    tlv_type = item["tlv_type"]
    if not isinstance(tlv_type, int) or not 0 <= tlv_type <= 255:
        raise FieldValueError(f"{where}.tlv_type: {tlv_type!r} is not a byte", field="tlv")
    payload = _hex(item["payload"], f"{where}.payload")
    if tlv_type in TYPED_TLVS:
        return tlv_from_wire(tlv_type, payload)
    return RawTLV(tlv_type, payload)


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


def from_json(obj: Any, registry: MessageCatalogue = BUILTIN_CATALOGUE) -> bytes:
    """The sealed frame of a JSON object in the mapping (types by name: MessageType names,
    and the names of the run-time schemas when `registry` is a schemas.Registry)."""
    if not isinstance(obj, dict):
        raise FieldValueError(f"expected a JSON object, got {type(obj).__name__}")
    name = obj.get("type")
    header = obj.get("header", {})
    if not isinstance(header, dict):
        raise FieldValueError("header: expected an object", field="header")
    try:
        message_type = registry.type_of_name(name)
        cls = registry.message_class(message_type, header.get("version"))
    except (KeyError, TypeError):
        raise FieldValueError(f"type: {name!r} is not a message type with a schema"
                              + (f" at version {header['version']!r}" if "version" in header else ""),
                              field="type") from None
    layout = cls.layout
    unknown = set(header) - {f.name for f in HEADER.fields}
    if unknown:
        raise FieldValueError(f"header: unknown field {sorted(unknown)[0]!r}", field="header")
    if "message_type" in header and header["message_type"] != message_type:
        raise FieldValueError(
            f"header.message_type {header['message_type']!r} disagrees with type {name}",
            field="message_type")

    body_names = {f.name for f in layout.value_fields}
    computed = layout.derived_fields
    kwargs: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("type", "header") or key in computed:
            continue
        if key == "tlv" and layout.carries_tlv:
            if not isinstance(value, list):
                raise FieldValueError("tlv: expected a list", field="tlv")
            kwargs["tlv"] = [_tlv_object(item, i) for i, item in enumerate(value)]
        elif key in body_names or key in {t.name for t in layout.tail}:
            kwargs[key] = _builder_value(layout, key, value)
        else:
            raise FieldValueError(f"{layout.name}: unknown field {key!r}", field=key)
    for key in _BUILDER_HEADER_FIELDS:
        if key in header:
            kwargs[f"header_{key}" if key in body_names else key] = header[key]
    return cls.encode(**kwargs)
