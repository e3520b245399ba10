"""Schemas from outside (announcement frames, JSON and YAML files, dicts): whatever the input,
the only error is SchemaError, and a schema that is accepted builds frames that decode."""
from __future__ import annotations

import json
import math
import struct

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from frames import raw_announcement, zeroed_frame
from strategies import reseal

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)

SCHEMA_KEYS = ["message_type", "version", "name", "fields", "tail", "extends", "doc", "cache"]
FIELD_TYPES = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "u128", "i128",
               "instrument_id", "bytes[20]", "ascii[6]", "pad[3]", "bytes[0]", "pad[0]",
               "ascii[-1]", "bytes[70000]", "bytes[1e3]", "u7", "bytes[", "pad[99999999999999]",
               "", "U8", "bytes[ 2]", "ascii[٣]"]
NAMES = ["a", "b", "n", "_gap", "header", "size", "class", "x y", "", "ü", "note", "a1"]

VALID = [
    ap.Schema(message_type=210, version=1, name="EveryKind", doc="all of them",
              fields=[("a_u8", "u8", 7), ("a_u16", "u16"), ("a_u64", "u64", 2**64 - 1),
                      ("a_i128", "i128", -5), ("instrument", "instrument_id"),
                      ("address", "bytes[20]", "0x" + "ab" * 20), ("code", "ascii[6]", "XS"),
                      ("_gap", "pad[3]"), ("note_len", "u16"), ("blob_len", "u8")],
              tail=[("note", "note_len", "utf8"), ("blob", "blob_len", "bytes")]),
    ap.Schema(message_type=201, version=2, name="MomentumSignal", extends=1,
              fields=[("instrument_id", "instrument_id"), ("score", "i32"),
                      ("horizon_s", "u32", 60)],
              cache={"kind": "instrument", "id": "instrument_id", "decimals": "score"}),
]
BASE_OF_EXTENSION = ap.Schema(message_type=201, version=1, name="MomentumSignal",
                              fields=[("instrument_id", "instrument_id"), ("score", "i32")])


def _plausible_field() -> st.SearchStrategy:
    return st.lists(st.one_of(st.sampled_from(NAMES), st.sampled_from(FIELD_TYPES), json_values),
                    min_size=0, max_size=4)


schema_like = st.fixed_dictionaries(
    {"message_type": st.one_of(st.integers(-1, 300), json_values),
     "version": st.one_of(st.integers(-1, 300), json_values),
     "name": st.one_of(st.sampled_from(NAMES + ["Name"]), json_values),
     "fields": st.one_of(st.lists(_plausible_field(), max_size=5), json_values)},
    optional={"tail": st.one_of(st.lists(st.lists(st.one_of(st.sampled_from(
                  NAMES + ["utf8", "bytes", "levels"]), json_values), max_size=4), max_size=3),
                  json_values),
              "extends": st.one_of(st.integers(-1, 300), json_values),
              "doc": json_values, "cache": st.one_of(
                  st.dictionaries(st.sampled_from(["kind", "id", "symbol", "decimals", "x"]),
                                  st.one_of(st.sampled_from(NAMES + ["instrument", "pool"]),
                                            json_values), max_size=4), json_values)})


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated_schema_dicts(draw: st.DrawFn) -> object:
    """A valid schema's dict with a few of its values, anywhere inside, replaced, dropped or
    doubled."""
    obj = json.loads(draw(st.sampled_from(VALID)).to_json())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(obj))[1:]))
        parent = obj
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "drop", "double", "type", "name", "number"]))
        if action == "drop":
            del parent[key]
        elif action == "double" and isinstance(parent, list):
            parent.insert(key, parent[key])
        elif action == "type":
            parent[key] = draw(st.sampled_from(FIELD_TYPES))
        elif action == "name":
            parent[key] = draw(st.sampled_from(NAMES))
        elif action == "number":
            parent[key] = draw(st.one_of(st.integers(-2, 300), st.sampled_from(
                [0, 1, 255, 256, 2**64, -2**63, 1.5, math.inf, True])))
        else:
            parent[key] = draw(json_values)
    return obj


schema_inputs = st.one_of(json_values, schema_like, mutated_schema_dicts(),
                          st.sampled_from(VALID).map(lambda s: json.loads(s.to_json())))


def _works(registry: ap.Registry, cls) -> None:
    """A registered schema builds a frame that decodes back to the same message."""
    frame = cls().to_bytes()
    message = registry.decode(frame)
    assert message == cls() and message.fields() == cls().fields()


def _from_dict(obj) -> None:
    try:
        schema = ap.Schema.from_dict(obj)
    except ap.SchemaError:
        return
    registry = ap.Registry()
    if schema.extends == 1 and schema.message_type == 201:
        registry.register(BASE_OF_EXTENSION)
    try:
        cls = registry.register(schema)
    except ap.SchemaError:
        return
    _works(registry, cls)
    assert ap.Schema.from_dict(json.loads(schema.to_json())) == schema


def test_a_doc_that_is_not_text_is_refused_or_round_trips():
    obj = json.loads(VALID[0].to_json())
    obj["doc"] = None
    try:
        schema = ap.Schema.from_dict(obj)
    except ap.SchemaError:
        return
    assert ap.Schema.from_dict(json.loads(schema.to_json())) == schema


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(schema_inputs)
def test_schema_from_dict_raises_only_schema_error(obj):
    _from_dict(obj)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(schema_inputs, max_size=3), schema_inputs,
                 st.lists(schema_inputs, max_size=3).map(lambda s: {"schemas": s})),
       st.sampled_from([".json", ".yaml"]))
def test_schema_files_raise_only_schema_error(tmp_path, obj, suffix):
    path = tmp_path / f"schemas{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(obj))
    else:
        path.write_text(yaml.safe_dump(obj))
    _load(path)


def _load(path) -> None:
    registry = ap.Registry()
    registry.register(BASE_OF_EXTENSION)
    try:
        classes = registry.load(path)
    except ap.SchemaError:
        return
    for cls in classes:
        _works(registry, cls)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.sampled_from(["!!binary aGVsbG8=", "- 2001-12-14", "{a: !!set {x}}",
                                  "- &a [*a]", "schemas: !!python/name:os.system", "[" * 300,
                                  "- {message_type: 201, version: 1, name: N, fields: [[a, !!binary AAAA]]}",
                                  "- {message_type: 201, version: 1, name: N, fields: [[a, u8, 2001-12-14]]}",
                                  "- {message_type: 201, version: 1, name: N, fields: [[a, u8]], doc: 1.5}",
                                  ])),
       st.sampled_from([".json", ".yaml", ".yml"]))
def test_schema_files_of_any_text_raise_only_schema_error(tmp_path, content, suffix):
    path = tmp_path / f"schemas{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, errors="surrogateescape")
    _load(path)


@st.composite
def announcements(draw: st.DrawFn) -> bytes:
    """SchemaAnnouncement frames whose spec is any text, any JSON, or a mutated schema, with
    type, version and extends that agree with it or not."""
    spec = draw(st.one_of(
        st.text(max_size=60),
        schema_inputs.map(lambda o: json.dumps(o, sort_keys=True, separators=(",", ":")))))
    try:
        parsed = json.loads(spec)
    except ValueError:
        parsed = None
    agreeing = [parsed.get(k) for k in ("message_type", "version", "extends")] \
        if isinstance(parsed, dict) else []
    numbers = [n if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 255 else 0
               for n in agreeing] or [0, 0, 0]
    numbers += [0] * (3 - len(numbers))
    if draw(st.booleans()):
        numbers = draw(st.lists(st.integers(0, 255), min_size=3, max_size=3))
    frame = bytearray(raw_announcement(spec, *numbers))  # as an unchecking producer sends it
    if draw(st.integers(0, 4)) == 0:  # a spec that is not UTF-8
        frame[40:] = draw(st.binary(max_size=60))
        struct.pack_into("<I", frame, 36, len(frame) - 40)
        struct.pack_into("<I", frame, 8, len(frame) - 32)
        frame = bytearray(reseal(frame))
    return bytes(frame)


@settings(max_examples=100)
@given(st.one_of(announcements(), st.sampled_from(VALID).map(lambda s: s.announce())))
def test_learning_announcements_raises_only_schema_error(frame):
    registry = ap.Registry()
    registry.register(BASE_OF_EXTENSION)
    try:
        cls = registry.learn(frame)
    except ap.SchemaError:
        return
    _works(registry, cls)


def test_learning_a_frame_of_another_type_is_a_schema_error():
    with pytest.raises(ap.SchemaError, match="not a SchemaAnnouncement"):
        ap.Registry().learn(zeroed_frame(ap.Trade))
