"""Schemas: the layout of one (message type, version), built in or defined at run time.

    signal = Schema(message_type=201, version=1, name="MomentumSignal", fields=[
        ("instrument_id", "instrument_id"), ("score", "i32"), ("horizon_s", "u32"),
    ])

Field types are those of the built-in layouts: ``u8 u16 u32 u64 i8 i16 i32 i64 u128 i128
instrument_id bytes[N] ascii[N] pad[N]``. A field may carry a default (the value of an
omitted argument, and of the field in frames of an earlier version). ``tail`` adds variable
segments after the fixed body, each counted by a body field, as InstrumentDiscovered has.
``extends`` names the version whose fields this one repeats and appends to (docs/registry.md
has the evolution rules). ``cache`` says how the frames of the schema update an ObjectCache.

A schema's JSON form (``to_dict``/``from_dict``) is what schema files and announcement
frames carry.
"""
from __future__ import annotations

import json
import keyword
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..wire._codec import HEADER_BUILDER_FIELDS, HEADER_FIELD_NAMES, InstrumentId, RuntimeMessage
from ..wire.enums import RELAY_DOMAINS, MessageType
from ..wire.errors import SchemaError
from ..wire.layouts import Field, MessageLayout, Tail

TAIL_KINDS = ("utf8", "bytes")
# the C rules hold body offsets in 16 bits: a body this size is far past any real message
MAX_BODY_SIZE = 0xFFFF
# schemas come from captures and files: their text is bounded, so that a refusal or a
# listing of schemas stays readable and small
MAX_NAME_LENGTH = 64
MAX_DOC_LENGTH = 4096
MAX_TYPE_LENGTH = 32
_ZERO_ID = InstrumentId()
CACHE_KINDS = ("instrument", "pool", "token", "custom")
CUSTOM_TYPES = range(200, 256)
# names a field or tail may not take, since something else answers to them: the attributes of
# the message classes and of their type, the keys of a message's JSON form, the columns the
# exports add, and the header keywords a body field of the same name renames (flags ->
# header_flags). The flat header fields of messages stay free: a body field hides one, as
# Trade's flags does.
RESERVED_NAMES = frozenset(
    {name for name in dir(RuntimeMessage) if not name.startswith("_")}
    - set(HEADER_FIELD_NAMES)
    | {"header", "size", "tlv", "find_tlv", "fields", "replace", "to_bytes", "encode", "layout",
       "schema", "message_type", "unseen_bytes", "defaulted_fields", "mro"}
    | {"type", "offset", "tail"}
    | {f"header_{name}" for name in HEADER_BUILDER_FIELDS})
# built-in type names, casefolded: export files and .npz keys are named by type name
_BUILTIN_NAMES = {member.name.casefold(): int(member) for member in MessageType}


@dataclass(frozen=True)
class CacheRule:
    """How a schema's frames update an ObjectCache: the object ``kind`` keyed by the
    InstrumentId field ``id``, with ``symbol`` and ``decimals`` read from the fields named."""

    kind: str
    id: str
    symbol: str | None = None
    decimals: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Schema:
    """The layout of one (message_type, version): fields, optional tail, evolution, cache."""

    message_type: int
    version: int
    name: str
    fields: Sequence[Any]          # stored as a tuple of (name, type[, default])
    tail: Sequence[Any] = ()       # stored as a tuple of (name, count_field, kind)
    extends: int | None = None
    doc: str = ""
    cache: CacheRule | Mapping[str, Any] | None = None
    # the relay domain its frames travel in (a run-time type has no range that tells)
    domain: str | None = None
    builtin: bool = field(default=False, compare=False)
    layout: MessageLayout = field(init=False, compare=False, repr=False)
    defaults: Mapping[str, Any] = field(init=False, compare=False, repr=False)
    # the layout's fields by name and its body size, found once: registering, building a
    # class and merging rows look them up per field, which would be quadratic on the layout
    field_index: Mapping[str, Field] = field(init=False, compare=False, repr=False)
    body_size: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _check_number(self.message_type, "message_type")
        _check_number(self.version, "version")
        _check_type_name(self.name, self.message_type)
        _check_text(self.doc, f"{self.name}.doc", MAX_DOC_LENGTH)
        if self.extends is not None:
            _check_number(self.extends, "extends")
            if self.extends >= self.version:
                raise SchemaError(f"{self.name}: version {self.version} cannot extend version"
                                  f" {self.extends}: a later version extends an earlier one")
        fields, defaults = _parse_fields(self.name, self.fields)
        tail = tuple(_parse_tail(self.name, t, self.builtin) for t in self.tail)
        if len(tail) > 2:
            raise SchemaError(f"{self.name}: at most 2 tail segments, got {len(tail)}")
        try:
            layout = MessageLayout(self.name, fields, self.doc, _type_value(self.message_type),
                                   self.name, tail, accepts_tlv=False)
        except ValueError as error:
            raise SchemaError(f"{self.name}: {error}") from None
        self._set_layout(layout)
        if self.body_size > MAX_BODY_SIZE:
            raise SchemaError(f"{self.name}: a fixed body of {self.body_size} bytes is over the"
                              f" maximum of {MAX_BODY_SIZE}")
        for segment in tail:
            _check_count_field(self, segment)
        for what, values in (("tail names", [t.name for t in tail]),
                             ("count fields", [t.count_field for t in tail])):
            if len(set(values)) != len(values):
                raise SchemaError(f"{self.name}: two tails share their {what[:-1]}: each tail"
                                  " needs its own name and count field")
        if self.domain is not None and self.domain not in RELAY_DOMAINS:
            raise SchemaError(f"{self.name}.domain: {_show(self.domain)} is not one of"
                              f" {', '.join(RELAY_DOMAINS)}")
        cache = self.cache
        if cache is not None and not isinstance(cache, CacheRule):
            cache = _parse_cache(self.name, cache)
        if cache is not None:
            _check_cache(layout, cache)
        set_(self, "fields", tuple((f.name, f.type) + ((defaults[f.name],) if f.name in defaults else ())
                                   for f in fields))
        set_(self, "tail", tuple((t.name, t.count_field, t.kind) for t in tail))
        set_(self, "cache", cache)
        set_(self, "defaults", defaults)

    def _set_layout(self, layout: MessageLayout) -> None:
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "field_index", {f.name: f for f in layout.fields})
        object.__setattr__(self, "body_size", layout.body_size)

    @classmethod
    def from_layout(cls, layout: MessageLayout, version: int = 1) -> Schema:
        """The schema of a built-in layout (which stays its layout, as declared)."""
        schema = cls(int(layout.message_type), version, layout.name,
                     tuple((f.name, f.type) for f in layout.fields),
                     tuple((t.name, t.count_field, t.kind) for t in layout.tail),
                     doc=layout.doc, builtin=True)
        schema._set_layout(layout)
        return schema

    @property
    def open(self) -> bool:
        """Whether frames of later, unknown versions are read by this one (run-time schemas
        without a tail: later versions may only append fields)."""
        return not self.builtin and not self.tail

    def default(self, name: str) -> Any:
        """The value of field `name` when a frame or a build leaves it out."""
        if name in self.defaults:
            return self.defaults[name]
        kind = self.field_index[name].kind
        return {"int": 0, "instrument_id": _ZERO_ID, "bytes": b"", "ascii": ""}[kind]

    def layout_key(self) -> tuple[Any, ...]:
        """What must agree for two schemas of one (type, version) to be the same layout."""
        return (self.name, tuple((f.name, f.type) for f in self.layout.fields), self.tail,
                self.extends, tuple(sorted((k, repr(v)) for k, v in self.defaults.items())))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what schema files and announcements carry."""
        obj: dict[str, Any] = {
            "message_type": self.message_type, "version": self.version, "name": self.name,
            "fields": [[name, type_] + ([_json_default(d[0])] if d else []) for name, type_, *d in self.fields],
        }
        if self.tail:
            obj["tail"] = [list(t) for t in self.tail]
        if self.extends is not None:
            obj["extends"] = self.extends
        if self.doc:
            obj["doc"] = self.doc
        if self.cache is not None:
            obj["cache"] = self.cache.to_dict()
        if self.domain is not None:
            obj["domain"] = self.domain
        return obj

    def to_json(self) -> str:
        """The canonical JSON text: sorted keys, no spaces, ASCII."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: Any) -> Schema:
        """The schema of a JSON form (as read from a file or an announcement)."""
        if not isinstance(obj, Mapping):
            raise SchemaError(f"a schema is an object, got {type(obj).__name__}")
        label = f"schema {_show(obj.get('name', '?'))}"
        unknown = set(obj) - {"message_type", "version", "name", "fields", "tail", "extends",
                              "doc", "cache", "domain"}
        if unknown:
            raise SchemaError(f"{label}: unknown key {_show(min(unknown, key=repr))}")
        missing = {"message_type", "version", "name", "fields"} - set(obj)
        if missing:
            raise SchemaError(f"{label}: missing {sorted(missing)[0]!r}")
        return cls(obj["message_type"], obj["version"], obj["name"],
                   tuple(_field_from_json(f) for f in _list(obj["fields"], "fields")),
                   tuple(tuple(t) if isinstance(t, list) else t
                         for t in _list(obj.get("tail", []), "tail")),
                   obj.get("extends"), obj.get("doc", ""), obj.get("cache"), obj.get("domain"))

    def announce(self, sequence: int = 0, timestamp: int = 0, source: int = 0) -> bytes:
        """A SchemaAnnouncement frame that makes a receiver register this schema."""
        from ..wire._codec import SchemaAnnouncement

        return SchemaAnnouncement.encode(
            schema_type=self.message_type, schema_version=self.version,
            extends_version=self.extends or 0, spec=self.to_json(),
            sequence=sequence, timestamp=timestamp, source=source)


def _check_number(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255:
        raise SchemaError(f"{what}: expected an integer in [1, 255], got {_show(value)}")


def _show(value: Any) -> str:
    """A short, always printable account of a value from outside, for an error message."""
    if isinstance(value, str):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"  # repr() refuses past 4300 digits
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


def _check_identifier(value: Any, what: str) -> str:
    if (not isinstance(value, str) or not value.isascii() or not value.isidentifier()
            or keyword.iskeyword(value) or len(value) > MAX_NAME_LENGTH):
        raise SchemaError(f"{what}: {_show(value)} is not a Python identifier: expected an ASCII"
                          f" identifier of at most {MAX_NAME_LENGTH} characters, not a keyword")
    return value


def _check_type_name(name: Any, message_type: int) -> None:
    _check_identifier(name, "name")
    if name.startswith("_"):
        raise SchemaError(f"name: {name!r}: a schema's name may not start with '_'")
    builtin = _BUILTIN_NAMES.get(name.casefold())
    if builtin is not None and builtin != message_type:
        raise SchemaError(f"name {name!r} is the built-in message type {builtin}"
                          f" ({MessageType(builtin).name}): expected a name of its own")


def _check_text(value: Any, what: str, limit: int) -> None:
    # printable excludes control characters and lone surrogates (which no UTF-8 encodes)
    if (not isinstance(value, str) or len(value) > limit
            or not all(c.isprintable() or c in "\n\t" for c in value)):
        raise SchemaError(f"{what}: expected text of at most {limit} characters (printable,"
                          f" newlines and tabs), got {_show(value)}")


def _check_reserved(schema: str, what: str, name: str, padding: bool) -> None:
    if name in RESERVED_NAMES:
        raise SchemaError(f"{schema}: {what}: {name!r} is a name messages use themselves")
    if name.startswith("_") and not padding:
        # the message classes keep their own attributes under such names
        raise SchemaError(f"{schema}: {what}: {name!r}: only pad[N] fields may start with '_'")
    if name.startswith("__") and name.endswith("__"):
        raise SchemaError(f"{schema}: {what}: {name!r}: names of the form __name__ are Python's own")


def _type_value(message_type: int) -> MessageType | int:
    try:
        return MessageType(message_type)
    except ValueError:
        return message_type


def _parse_fields(schema: str, specs: Iterable[Any]) -> tuple[tuple[Field, ...], dict[str, Any]]:
    fields, defaults = [], {}
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise SchemaError(f"{schema}: fields is a list of (name, type[, default])")
    for i, spec in enumerate(specs):
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise SchemaError(f"{schema}: fields[{i}] is not (name, type[, default]): {_show(spec)}")
        name, type_ = spec[0], spec[1]
        _check_identifier(name, f"{schema}: fields[{i}] name")
        field_ = _field(schema, name, type_)
        _check_reserved(schema, f"fields[{i}]", name, field_.is_padding)
        if len(spec) == 3:
            defaults[name] = _check_default(schema, field_, spec[2])
        fields.append(field_)
    return tuple(fields), defaults


def _field(schema: str, name: str, type_: Any) -> Field:
    """The field of a (name, type) pair, its type checked: a known type, sized in ASCII digits."""
    field_ = Field(name, type_)
    try:
        known = (isinstance(type_, str) and type_.isascii() and len(type_) <= MAX_TYPE_LENGTH
                 and field_.size > 0)
    except ValueError:
        known = False
    if not known:
        raise SchemaError(f"{schema}.{name}: unknown field type {_show(type_)}")
    return field_


def _check_default(schema: str, field_: Field, value: Any) -> Any:
    where = f"{schema}.{field_.name} default"
    if field_.kind == "int":
        bits = field_.size * 8
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if field_.signed else (0, (1 << bits) - 1)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SchemaError(f"{where}: expected an integer in [{low}, {high}], got {_show(value)}")
        return value
    if field_.kind == "ascii":
        if not isinstance(value, str) or not value.isascii() or len(value) > field_.size:
            raise SchemaError(f"{where}: expected ASCII text of at most {field_.size} characters")
        return value
    if field_.kind == "bytes":
        try:
            raw = bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("0x") else value
        except ValueError:
            raw = None
        if not isinstance(raw, bytes) or len(raw) not in (0, field_.size):
            raise SchemaError(f"{where}: expected {field_.size} bytes or '0x' + hex")
        return raw
    raise SchemaError(f"{where}: {field_.type} fields take no default")


def _json_default(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


def _field_from_json(spec: Any) -> Any:
    return tuple(spec) if isinstance(spec, list) else spec


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def _parse_tail(schema: str, spec: Any, builtin: bool) -> Tail:
    if isinstance(spec, Tail):
        spec = (spec.name, spec.count_field, spec.kind)
    if not isinstance(spec, tuple) or len(spec) != 3 or not all(isinstance(s, str) for s in spec):
        raise SchemaError(f"{schema}: a tail is (name, count_field, kind), each a name, got"
                          f" {_show(spec)}")
    name, count_field, kind = spec
    _check_identifier(name, f"{schema}: tail name")
    _check_reserved(schema, "tail name", name, padding=False)
    if kind not in TAIL_KINDS and not (builtin and kind == "levels"):
        raise SchemaError(f"{schema}.{name}: tail kind {_show(kind)} is not one of"
                          f" {', '.join(TAIL_KINDS)}")
    return Tail(name, count_field, kind)


def _check_count_field(schema: Schema, tail: Tail) -> None:
    count = schema.field_index.get(tail.count_field)
    if count is None:
        raise SchemaError(f"{schema.name}.{tail.name}: count field {_show(tail.count_field)} is not"
                          " a field")
    if count.type not in ("u8", "u16", "u32"):
        raise SchemaError(f"{schema.name}.{tail.count_field}: a count field is u8, u16 or u32")
    if tail.name in schema.field_index:
        raise SchemaError(f"{schema.name}: tail {tail.name!r} has a field's name")


def _parse_cache(schema: str, obj: Any) -> CacheRule:
    if not isinstance(obj, Mapping) or set(obj) - {"kind", "id", "symbol", "decimals"} \
            or not {"kind", "id"} <= set(obj) or not all(isinstance(v, str) for v in obj.values()):
        raise SchemaError(f"{schema}: cache is an object with kind, id[, symbol, decimals], each"
                          " a name")
    return CacheRule(**obj)


def _check_cache(layout: MessageLayout, rule: CacheRule) -> None:
    if rule.kind not in CACHE_KINDS:
        raise SchemaError(f"{layout.name}: cache kind {_show(rule.kind)} is not one of"
                          f" {', '.join(CACHE_KINDS)}")
    names = {f.name: f for f in layout.value_fields} | {t.name: t for t in layout.tail}
    if rule.id not in names or getattr(names[rule.id], "type", "") != "instrument_id":
        raise SchemaError(f"{layout.name}: cache id {_show(rule.id)} is not an instrument_id field")
    for role in ("symbol", "decimals"):
        name = getattr(rule, role)
        if name is not None and name not in names:
            raise SchemaError(f"{layout.name}: cache {role} {_show(name)} is not a field")
