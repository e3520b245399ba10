"""Schema registries: which schema reads each (message type, version), at run time.

The default registry holds a schema for every built-in type and is what ``decode``,
``iter_frames``, ``decode_batch`` and the command line use; ``register(schema)`` adds to it.
``Registry()`` makes an independent one (for tests, or one per tenant). Lookups run in the
C decode path as two loads, safe while another thread registers (see _rules.pxi).

Rules (docs/registry.md): types 200-255 are for run-time schemas, other types only with
``override=True``; registering the same layout twice is a no-op, another layout for a
registered (type, version) is refused; a schema that ``extends`` a version repeats its fields
and only appends; a run-time schema without a tail reads frames of later versions it does
not know, and reports their extra bytes as ``unseen_bytes``.
"""
from __future__ import annotations

import json
import operator
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..wire import _codec
from ..wire._codec import (DEFAULT_RULE_TABLE, EXTRA_KINDS, HEADER_BUILDER_FIELDS, MESSAGE_CLASSES,
                     Message, RuleTable, RuntimeMessage, SchemaField)
from ..wire.enums import MessageType
from ..wire.canonical import check_canonical_json
from ..wire.errors import FieldValueError, LayoutConflictError, SchemaError
from ..wire.dtypes import layout_dtype
from ..wire.layouts import HEADER_SIZE, MESSAGES, MessageLayout
from ..wire.optional import require
from .schema import CUSTOM_TYPES, Schema
from .transforms import BUILTIN_TRANSFORMS

TypeVersion = tuple[int, int]
Transform = Callable[[Message], "dict[str, Any] | Message"]


class Registry:
    """Schemas by (message_type, version), their message classes, and transforms."""

    def __init__(self, builtins: bool = True, *, _table: RuleTable | None = None) -> None:
        self._table = _table if _table is not None else RuleTable()
        self._lock = threading.Lock()
        self._schemas: dict[int, dict[int, Schema]] = {}
        self._classes: dict[TypeVersion, type[Message]] = {}
        self._dtypes: dict[TypeVersion, np.dtype] = {}  # lives and dies with this registry
        self._names: dict[str, int] = {}  # casefolded schema name -> its type
        # (type, version)s announced with two layouts: their frames are read by neither
        self._conflicts: set[TypeVersion] = set()
        self._transforms: dict[tuple[TypeVersion, TypeVersion], Transform] = {}
        if builtins:
            for message_type, layout in MESSAGES.items():
                self._add(Schema.from_layout(layout), MESSAGE_CLASSES[message_type])
            for source, target, function in BUILTIN_TRANSFORMS:
                self._transforms[source, target] = function

    def overlay(self) -> Registry:
        """A registry that starts with what this one has now (schemas, classes, transforms,
        conflicts, C rules) and changes apart from it: what it learns stays in it."""
        with self._lock:
            child = Registry(builtins=False, _table=self._table.copy())
            child._schemas = dict(self._schemas)  # a type's versions dict is replaced, not changed
            child._classes = dict(self._classes)
            child._dtypes = dict(self._dtypes)
            child._names = dict(self._names)
            child._transforms = dict(self._transforms)
            child._conflicts = set(self._conflicts)
        return child

    # ---------------------------------------------------------------- registering

    def register(self, schema: Schema, *, override: bool = False) -> type[RuntimeMessage]:
        """Register `schema`; returns its message class (the existing one for a repeat)."""
        if not isinstance(schema, Schema):
            raise TypeError(f"register() takes a Schema, got {type(schema).__name__}")
        with self._lock:
            key = (schema.message_type, schema.version)
            existing = self._schemas.get(schema.message_type, {}).get(schema.version)
            if (existing is not None and not existing.builtin
                    and existing.layout_key() == schema.layout_key()):
                return cast("type[RuntimeMessage]", self._classes[key])  # not a built-in one
            where = f"{schema.name} (type {schema.message_type}, version {schema.version})"
            if existing is not None and existing.builtin and not override:
                raise SchemaError(f"{where}: a built-in schema has this type and version; pass"
                                  " override=True to replace it")
            if existing is not None and not existing.builtin:
                raise LayoutConflictError(f"{where}: {existing.name} is registered there with"
                                          " another layout; a new layout needs a new version")
            owner = self._names.get(schema.name.casefold(), schema.message_type)
            if owner != schema.message_type:
                # exports name their files and .npz keys by type name
                raise SchemaError(f"{where}: name {schema.name!r} is taken by type {owner}"
                                  f" ({self.type_name(owner)}): expected a name of its own")
            if schema.message_type not in CUSTOM_TYPES and not override:
                raise SchemaError(f"{where}: types outside 200-255 belong to the built-in"
                                  " protocol; pass override=True to register one anyway")
            if any(kind == "levels" for _, _, kind in schema.tail):
                raise SchemaError(f"{where}: run-time schemas take utf8 and bytes tails")
            if schema.extends is not None:
                self._check_extension(schema, where)
            cls = _message_class(schema)
            self._add(schema, cls)
            return cls

    def _check_extension(self, schema: Schema, where: str) -> None:
        base = self._schemas.get(schema.message_type, {}).get(schema.extends)  # type: ignore[arg-type]
        if base is None:
            raise SchemaError(f"{where}: extends version {schema.extends}, which is not registered")
        if schema.tail or base.tail:
            raise SchemaError(f"{where}: a schema with a tail cannot be extended: appended fields"
                              " would move its tail")
        old = [(f.name, f.type) for f in base.layout.fields]
        new = [(f.name, f.type) for f in schema.layout.fields]
        if new[:len(old)] != old:
            changed = next((n for n, o in zip(new, old) if n != o), None)
            detail = (f"field {changed[0]!r} {changed[1]} is {old[new.index(changed)][0]!r}"
                      f" {old[new.index(changed)][1]} in version {schema.extends}"
                      if changed else f"it drops fields of version {schema.extends}")
            raise SchemaError(f"{where}: a new version may only append fields; {detail}")

    def _add(self, schema: Schema, cls: type[Message]) -> None:
        versions = dict(self._schemas.get(schema.message_type, {}))
        versions[schema.version] = schema
        classes = {v: self._classes.get((schema.message_type, v)) for v in versions}
        classes[schema.version] = cls
        # recorded before the C rule is published: a decoder on another thread that finds the
        # rule then finds the schema and the class too
        self._classes[schema.message_type, schema.version] = cls
        self._schemas[schema.message_type] = versions
        self._names[schema.name.casefold()] = schema.message_type
        self._dtypes.pop((schema.message_type, schema.version), None)
        self._publish(schema.message_type, classes)

    def _publish(self, message_type: int, classes: dict[int, type[Message]]) -> None:
        conflicts = {v for t, v in self._conflicts if t == message_type}
        self._table.publish(message_type, _type_rules(self._schemas[message_type], conflicts),
                            classes)

    def _mark_conflict(self, message_type: int, version: int) -> None:
        """Read frames of (type, version) by no schema from now on: two layouts were
        announced for it, and nothing tells which of them a frame was written by."""
        with self._lock:
            self._conflicts.add((message_type, version))
            versions = self._schemas[message_type]
            self._publish(message_type, {v: self._classes[message_type, v] for v in versions})

    @property
    def conflicts(self) -> frozenset[TypeVersion]:
        """The (type, version)s announced with two layouts, whose frames this registry refuses
        (SchemaConflictError; a schema_conflict stretch in batch decode)."""
        return frozenset(self._conflicts)

    def register_transform(self, source: TypeVersion, target: TypeVersion,
                           function: Transform) -> None:
        """Let read_as() turn frames of `source` (type, version) into messages of `target`:
        `function(message)` returns the target's fields as a dict (header fields it leaves
        out are copied) or a target message."""
        for end in (source, target):
            self.schema(*end)
        with self._lock:
            self._transforms[tuple(source), tuple(target)] = function  # type: ignore[index]

    # ---------------------------------------------------------------- looking up

    def schema(self, message_type: int, version: int | None = None) -> Schema:
        """The schema of (type, version); the newest version when version is None."""
        versions = self._schemas.get(int(message_type))
        if not versions:
            raise KeyError(f"no schema for message type {message_type!r}")
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise KeyError(f"no schema for version {version} of {self.type_name(message_type)}"
                           ) from None

    def versions(self, message_type: int) -> list[int]:
        """The versions of a type that have a schema, ascending."""
        return sorted(self._schemas.get(int(message_type), {}))

    def message_class(self, message_type: int, version: int | None = None) -> type[Message]:
        schema = self.schema(message_type, version)
        return self._classes[schema.message_type, schema.version]

    def __iter__(self) -> Iterator[Schema]:
        for message_type in sorted(self._schemas):
            versions = self._schemas[message_type]
            yield from (versions[v] for v in sorted(versions))

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple) and len(key) == 2:
            return key[1] in self._schemas.get(key[0], {})
        return key in self._schemas

    def type_name(self, message_type: int) -> str:
        """The name of a type: its MessageType name, else its newest schema's name."""
        try:
            return MessageType(message_type).name
        except ValueError:
            versions = self._schemas.get(int(message_type))
            return versions[max(versions)].name if versions else f"type {message_type}"

    def type_of_name(self, name: str) -> int:
        """The type number of a MessageType name, a registered schema's name, or a number
        written out (for types that a capture will announce)."""
        if name in MessageType.__members__:
            return int(MessageType[name])
        if isinstance(name, str) and name.isdigit() and int(name) <= 255:
            return int(name)
        for schema in self:
            if schema.name == name:
                return schema.message_type
        raise KeyError(f"no message type or schema named {name!r} (a type that is yet to be"
                       " announced goes by its number)")

    def layout(self, message_type: int, version: int | None = None) -> MessageLayout:
        return self.schema(message_type, version).layout

    def dtype(self, message_type: int | str, version: int | None = None) -> np.dtype:
        """The numpy dtype of header plus fixed body of (type, version); the type by number
        or by name."""
        if isinstance(message_type, str):
            message_type = self.type_of_name(message_type)
        elif isinstance(message_type, bool):
            raise TypeError(f"a message type is a number or a name, got {message_type!r}")
        schema = self.schema(operator.index(message_type), version)
        key = (schema.message_type, schema.version)
        found = self._dtypes.get(key)
        if found is None:
            found = self._dtypes[key] = layout_dtype(schema.layout)
        return found

    # ---------------------------------------------------------------- decoding

    def decode(self, buffer: Any, verify: bool = True, *, max_frame_size: int | None = None) -> Message:
        """The message of the one frame in `buffer`, as this registry's schemas read it."""
        return _codec.decode(buffer, verify, max_frame_size=max_frame_size, registry=self)

    def iter_frames(self, buffer: Any, verify: bool = True, *,
                    max_frame_size: int | None = None) -> Iterator[Message]:
        return _codec.iter_frames(buffer, verify, max_frame_size=max_frame_size, registry=self)

    def read_as(self, buffer: Any, message_type: int, version: int | None = None,
                verify: bool = True) -> Message:
        """The frame in `buffer` as a message of (message_type, version): another version
        of the frame's type by the evolution rules (fields a frame lacks read as their
        defaults, fields the reader lacks are left unseen), or another type through a
        registered transform."""
        target = self.schema(message_type, version)
        message = self.decode(buffer, verify)
        header = message.header
        if header.message_type == target.message_type:
            if header.version == target.version:
                return message
            return self._as_version(message, buffer, target, verify)
        read_version = _schema_version_of(message)
        function = self._transforms.get(((header.message_type, read_version),
                                         (target.message_type, target.version)))
        if function is None:
            raise SchemaError(f"no transform from {self.type_name(header.message_type)} version"
                              f" {read_version} to {target.name} version {target.version}")
        result = function(message)
        if isinstance(result, Message):
            return result
        cls = self._classes[target.message_type, target.version]
        fields = {name: getattr(header, name) for name in ("sequence", "timestamp", "source")}
        fields.update(result)
        return cls(**fields)

    def _as_version(self, message: Message, buffer: Any, target: Schema, verify: bool) -> Message:
        # the schema that read the frame: its own version's, or the earlier one that reads it
        reader = self._schemas[target.message_type][_schema_version_of(message)]
        if not on_one_line(self, reader, target):
            raise SchemaError(f"{reader.name} version {reader.version} (which reads this version"
                              f" {message.header.version} frame) and version {target.version} are"
                              " not versions of one another (no extends chain joins them)")
        cls = self._classes[target.message_type, target.version]
        return _codec._view_as(buffer, cls, target.version, verify, None, self)

    def unseen_fields(self, message: Message) -> tuple[str, ...]:
        """Fields of the frame's own version that the message's schema does not read (known
        when this registry has the frame's version)."""
        header = message.header
        reader = type(message).layout
        frame_schema = self._schemas.get(header.message_type, {}).get(header.version)
        if frame_schema is None or frame_schema.layout is reader:
            return ()
        seen = {f.name for f in reader.fields}
        return tuple(f.name for f in frame_schema.layout.value_fields if f.name not in seen)

    # ---------------------------------------------------------------- schemas as data

    def learn(self, frame: Any, verify: bool = True) -> type[RuntimeMessage]:
        """Register the schema a SchemaAnnouncement frame (or message) carries.

        An announcement of another layout for a registered (type, version) raises
        LayoutConflictError, and from then on this registry reads that version's frames by
        neither layout."""
        announcement = frame if isinstance(frame, Message) else self.decode(frame, verify)
        if announcement.header.message_type != MessageType.SchemaAnnouncement:
            raise SchemaError(f"{type(announcement).__name__} is not a SchemaAnnouncement")
        try:
            # canonical text only: the JSON of a decoded announcement must encode back
            check_canonical_json(announcement.spec, "spec")
        except FieldValueError as error:
            raise SchemaError(f"SchemaAnnouncement spec is not JSON of a schema: {error}") from None
        obj = json.loads(announcement.spec)
        schema = Schema.from_dict(obj)
        if (schema.message_type, schema.version, schema.extends or 0) != (
                announcement.schema_type, announcement.schema_version, announcement.extends_version):
            raise SchemaError("SchemaAnnouncement: schema_type, schema_version and"
                              " extends_version disagree with its spec")
        try:
            return self.register(schema)
        except LayoutConflictError:
            # the frames of this (type, version) may have been written by either layout
            self._mark_conflict(schema.message_type, schema.version)
            raise

    def load(self, path: str | os.PathLike[str]) -> list[type[RuntimeMessage]]:
        """Register the schemas of a JSON or YAML file (a list of schema objects, or an object
        with a "schemas" list); returns their classes."""
        return [self.register(s) for s in read_schema_file(path)]

    def save(self, path: str | os.PathLike[str], schemas: Iterable[Schema] | None = None) -> None:
        """Write schemas (the run-time ones when None) to a JSON or YAML file, by its suffix."""
        chosen = [s for s in self if not s.builtin] if schemas is None else list(schemas)
        obj = {"schemas": [s.to_dict() for s in chosen]}
        target = Path(path)
        if target.suffix in (".yaml", ".yml"):
            yaml = require("yaml", "writing YAML schema files")
            target.write_text(yaml.safe_dump(obj, sort_keys=False))
        else:
            target.write_text(json.dumps(obj, indent=2) + "\n")


def read_schema_file(path: str | os.PathLike[str]) -> list[Schema]:
    """The schemas of a JSON or YAML schema file."""
    source = Path(path)
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"{source}: cannot read: {error}") from None
    # looked for before the parsing, whose every error is read as the file's fault
    yaml = require("yaml", "reading YAML schema files") if source.suffix in (".yaml", ".yml") \
        else None
    try:
        if yaml is not None:
            obj = yaml.safe_load(text)
        else:
            obj = json.loads(text)
    except Exception as error:  # the parsers' own errors: yaml.YAMLError, JSONDecodeError
        raise SchemaError(f"{source}: not valid {source.suffix.lstrip('.') or 'JSON'}: {error}"
                          ) from None
    if isinstance(obj, dict) and set(obj) == {"schemas"}:
        obj = obj["schemas"]
    if not isinstance(obj, list):
        raise SchemaError(f"{source}: expected a list of schemas or {{\"schemas\": [...]}}")
    schemas = []
    for i, item in enumerate(obj):
        try:
            schemas.append(Schema.from_dict(item))
        except SchemaError as error:
            raise SchemaError(f"{source}: schema {i}: {error}") from None
    return schemas


def _schema_version_of(message: Message) -> int:
    """The version of the schema whose class `message` is: built-in classes read only their
    own version, a run-time class may read later ones."""
    schema = getattr(type(message), "schema", None)
    return schema.version if schema is not None else message.header.version


def on_one_line(registry: Registry, a: Schema, b: Schema) -> bool:
    """Whether one of two versions extends the other, directly or through others."""
    low, high = sorted((a, b), key=lambda s: s.version)
    versions = registry._schemas[a.message_type]
    while high.extends is not None and high.version > low.version:
        high = versions[high.extends]
    return high.version == low.version


def _type_rules(versions: dict[int, Schema], conflicts: set[int]) -> dict[int, tuple[Any, ...]]:
    """The C rule of every frame version a type's schemas read: its own schema's, else that
    of the newest earlier open schema (which leaves the bytes after its body unseen). A rule
    read through a version in `conflicts` refuses its frames."""
    rules = {}
    unseen = None  # the rule of the newest open schema so far, for the versions after it
    for version in range(1, 256):
        schema = versions.get(version)
        if schema is not None:
            extra = EXTRA_KINDS["tlv" if schema.layout.carries_tlv else "none"]
            rules[version] = _rule(schema, extra, version in conflicts)
            if schema.open:
                unseen = _rule(schema, EXTRA_KINDS["unseen"], version in conflicts)
        elif unseen is not None:
            rules[version] = unseen
    return rules


def _rule(schema: Schema, extra: int, conflict: bool) -> tuple[Any, ...]:
    """The C rule of frames that `schema` reads: (read_as, body_size, extra, tails,
    tlv_position_field, conflict)."""
    layout, index = schema.layout, schema.field_index
    tails = tuple((index[t.count_field].offset, index[t.count_field].size, t.element_size)
                  for t in layout.tail)
    position = index[layout.tlv_position_fields[0]].offset if layout.tlv_position_fields else -1
    return (schema.version, schema.body_size, extra, tails, position, conflict)


def _field_kind(field: Any) -> str:
    if field.kind == "int":
        if field.size == 16:
            return "i128" if field.signed else "u128"
        return "int" if field.signed else "uint"
    return field.kind


def _message_class(schema: Schema) -> type[RuntimeMessage]:
    """A message class for a run-time schema: a SchemaField descriptor per field."""
    layout = schema.layout
    body_end = HEADER_SIZE + schema.body_size
    derived = layout.derived_fields
    namespace: dict[str, Any] = {
        "__doc__": f"{schema.doc or schema.name}\n\nRun-time schema: message type"
                   f" {schema.message_type}, version {schema.version}, fixed body of"
                   f" {schema.body_size} bytes.",
        "__module__": __name__,
        "__qualname__": schema.name,
        "schema": schema, "layout": layout, "message_type": schema.message_type,
    }
    writable, tails, counts = [], [], []
    for f in layout.value_fields:
        descriptor = SchemaField(f.name, HEADER_SIZE + f.offset, f.size, _field_kind(f),
                                 schema.default(f.name),
                                 f"{layout.name}.{f.name} (frame offset {HEADER_SIZE + f.offset}, {f.type})")
        namespace[f.name] = descriptor
        if f.name not in derived:
            writable.append(descriptor)
    for t in layout.tail:
        count = schema.field_index[t.count_field]
        counts.append((HEADER_SIZE + count.offset, count.size))
        descriptor = SchemaField(t.name, body_end, 0, f"{t.kind}_tail",
                                 "" if t.kind == "utf8" else b"", f"{layout.name}.{t.name}",
                                 body_end, tuple(counts))
        namespace[t.name] = descriptor
        tails.append(descriptor)
    body_names = {f.name for f in layout.value_fields}
    header_names = {name: f"header_{name}" if name in body_names else name
                    for name in HEADER_BUILDER_FIELDS}
    namespace.update(
        _plan_fields=tuple(writable), _plan_tails=tuple(tails), _plan_body_end=body_end,
        _plan_header_names=header_names,
        _plan_accepts=frozenset(d.name for d in writable) | {t.name for t in layout.tail}
        | set(header_names.values()),
    )
    return type(schema.name, (RuntimeMessage,), namespace)


default = Registry(_table=DEFAULT_RULE_TABLE)


def dtype(message_type: int | str | MessageType, version: int | None = None,
          registry: Registry | None = None) -> np.dtype:
    """The structured dtype of header plus fixed body of `message_type` (a number, a
    MessageType or a name; at `version`, the newest when None, in `registry`, the default when
    None)."""
    registry = registry or default
    if isinstance(message_type, str):
        message_type = registry.type_of_name(message_type)
    try:
        return registry.dtype(message_type, version)
    except (KeyError, TypeError, ValueError):
        raise KeyError(f"no layout for message type {message_type!r}"
                       + (f" version {version}" if version is not None else "")) from None


def register(schema: Schema, *, override: bool = False) -> type[RuntimeMessage]:
    """Register `schema` in the default registry; returns its message class."""
    return default.register(schema, override=override)


def load_schemas(path: str | os.PathLike[str]) -> list[type[RuntimeMessage]]:
    """Register the schemas of a JSON or YAML file in the default registry."""
    return default.load(path)

