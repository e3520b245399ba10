"""TLV extension objects: the design's three typed extensions and a raw one for any other type.

The wire walk (bounds, lengths) runs in C; these classes give each extension's payload its
fields. A typed class exists for every layout in ``layouts.TLVS``; a TLV of any other type is
kept whole as a RawTLV, so unknown extensions pass through a decode and re-encode unchanged.
A typed extension keeps its ``reserved`` bytes as read (zero when built), for the same reason.
"""
from __future__ import annotations

import struct
from typing import Any, ClassVar

from .enums import TLVType
from .errors import FieldValueError, TLVError
from .layouts import TLVS, Field, TLVLayout

_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q",
                 "i8": "b", "i16": "h", "i32": "i", "i64": "q"}


def _struct_code(field: Field) -> str:
    if field.kind == "int":
        return _STRUCT_CODES[field.type]
    return f"{field.size}s"


class TLV:
    """Base of every TLV extension: ``tlv_type``, ``payload`` and ``to_bytes()``."""

    tlv_type: int

    @property
    def payload(self) -> bytes:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The extension as it stands on the wire: type, length, payload."""
        payload = self.payload
        if len(payload) > 255:
            raise FieldValueError(
                f"TLV type {self.tlv_type}: a payload of {len(payload)} bytes exceeds 255",
                field="tlv_length")
        return bytes((self.tlv_type, len(payload))) + payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TLV):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


class RawTLV(TLV):
    """An extension of a type this codec has no layout for, kept byte for byte."""

    def __init__(self, tlv_type: int, payload: bytes) -> None:
        if not 0 <= tlv_type <= 255:
            raise FieldValueError(f"RawTLV.tlv_type: {tlv_type} is out of range [0, 255]",
                                  field="tlv_type")
        self.tlv_type = tlv_type
        self._payload = bytes(payload)

    @property
    def payload(self) -> bytes:
        return self._payload

    def __repr__(self) -> str:
        return f"RawTLV(tlv_type={self.tlv_type}, payload={self._payload!r})"


class TypedTLV(TLV):
    """An extension with a layout; its fields are attributes named as in the design, and
    ``reserved`` holds the layout's reserved bytes as they stand on the wire."""

    layout: ClassVar[TLVLayout]
    _struct: ClassVar[struct.Struct]
    _field_names: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, layout: TLVLayout, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.layout = layout
        cls.tlv_type = int(layout.tlv_type)
        payload_fields = layout.fields[2:]
        cls._struct = struct.Struct("<" + "".join(_struct_code(f) for f in payload_fields))
        cls._field_names = tuple(f.name for f in payload_fields)

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields) - set(self._field_names)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        for f in self.layout.fields[2:]:
            value = fields.get(f.name, 0 if f.kind == "int" else b"")
            setattr(self, f.name, _checked(type(self).__name__, f, value))

    @classmethod
    def from_payload(cls, payload: bytes) -> TypedTLV:
        if len(payload) != cls.layout.payload_size:
            raise TLVError(f"{cls.__name__}: payload of {len(payload)} bytes, its layout needs"
                           f" {cls.layout.payload_size}", field="tlv_length")
        instance = cls.__new__(cls)
        for name, value in zip(cls._field_names, cls._struct.unpack(payload)):
            setattr(instance, name, value)
        return instance

    @property
    def payload(self) -> bytes:
        return self._struct.pack(*(getattr(self, name) for name in self._field_names))

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._field_names}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.fields().items())
        return f"{type(self).__name__}({body})"


def _checked(owner: str, field: Field, value: Any) -> Any:
    where = f"{owner}.{field.name} ({field.type})"
    if field.kind in ("bytes", "pad"):
        try:
            raw = bytes.fromhex(value[2:]) if isinstance(value, str) and value[:2] in ("0x", "0X") \
                else bytes(value)
        except (TypeError, ValueError):
            raise FieldValueError(f"{where}: expected bytes or '0x' + hex, got {value!r}",
                                  field=field.name) from None
        if len(raw) not in (0, field.size):
            raise FieldValueError(f"{where}: expected {field.size} bytes, got {len(raw)}",
                                  field=field.name)
        return raw.ljust(field.size, b"\0")
    bits = 8 * field.size
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if field.signed else (0, (1 << bits) - 1)
    if not isinstance(value, int) or not low <= value <= high:
        raise FieldValueError(f"{where}: {value!r} is out of range [{low}, {high}]", field=field.name)
    return int(value)


class PoolAddressTLV(TypedTLV, layout=TLVS[TLVType.PoolAddresses]):
    """Pool contracts for quoter calls (type 1, 44 bytes)."""


class TertiaryVenueTLV(TypedTLV, layout=TLVS[TLVType.TertiaryVenue]):
    """A third venue for triangular arbitrage (type 2, 32 bytes)."""


class MEVBundleTLV(TypedTLV, layout=TLVS[TLVType.MEVBundle]):
    """MEV bundle preferences (type 3, 45 bytes)."""


TYPED_TLVS: dict[int, type[TypedTLV]] = {
    cls.tlv_type: cls for cls in (PoolAddressTLV, TertiaryVenueTLV, MEVBundleTLV)
}


def tlv_from_wire(tlv_type: int, payload: bytes) -> TLV:
    """The object for one extension read off the wire."""
    typed = TYPED_TLVS.get(tlv_type)
    if typed is None:
        return RawTLV(tlv_type, payload)
    return typed.from_payload(payload)
