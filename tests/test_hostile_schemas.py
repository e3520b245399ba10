"""Hostile input on the schema side: announcements, schema files and the batch learner.

Whatever a capture or a schema file holds, a schema is registered whole or refused with a
SchemaError that names the field at fault; a decode learns into a registry of its own.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch

BASE = {"message_type": 220, "version": 1, "name": "Hostile", "fields": [["n", "u8"]]}


def announcement(obj: object, schema_type: int = 220, version: int = 1, extends: int = 0) -> bytes:
    return ap.SchemaAnnouncement.encode(schema_type=schema_type, schema_version=version,
                                        extends_version=extends, spec=json.dumps(obj))


def spec(**changes: object) -> dict:
    return {**BASE, **changes}


HOSTILE_SPECS = [
    # names the message classes, their type or Python's data model use for themselves
    (spec(fields=[["n", "u8"]], tail=[["__slots__", "n", "utf8"]]), "tail name: '__slots__'"),
    (spec(fields=[["n", "u8"]], tail=[["__qualname__", "n", "utf8"]]), "tail name"),
    (spec(fields=[["n", "u8"]], tail=[["__classcell__", "n", "bytes"]]), "tail name"),
    (spec(fields=[["n", "u8"]], tail=[["__new__", "n", "utf8"]]), "tail name"),
    (spec(fields=[["n", "u8"]], tail=[["__hash__", "n", "utf8"]]), "tail name"),
    (spec(fields=[["n", "u8"]], tail=[["__eq__", "n", "utf8"]]), "tail name"),
    (spec(fields=[["n", "u8"]], tail=[["to_bytes", "n", "utf8"]]), "tail name"),
    (spec(fields=[["__dict__", "pad[1]"]]), "fields.0.: '__dict__': names of the form __name__"),
    (spec(fields=[["replace", "u8"]]), "a name messages use"),
    (spec(fields=[["fields", "u8"]]), "a name messages use"),
    (spec(fields=[["mro", "u8"]]), "a name messages use"),
    (spec(fields=[["type", "u8"]]), "a name messages use"),
    (spec(fields=[["offset", "u8"]]), "a name messages use"),
    (spec(fields=[["header_sequence", "u8"]]), "a name messages use"),
    (spec(name="__init__"), "name"),
    (spec(name="_Private"), "name"),
    (spec(name="Trade"), "name 'Trade' is the built-in message type 1"),
    (spec(name="trade"), "name 'trade' is the built-in message type 1"),
    (spec(name="Ünïcode"), "ASCII identifier"),
    (spec(name="N" * 65), "at most 64 characters"),
    # numbers: ints of the right range, not bools, floats or huge ints
    (spec(version=True), "version: expected an integer"),
    (spec(message_type=220.0), "message_type: expected an integer"),
    (spec(fields=[["n", "u8", 1.0]]), "Hostile.n default: expected an integer"),
    (spec(fields=[["n", "u8", True]]), "Hostile.n default: expected an integer"),
    (spec(fields=[["n", "u64", 2**70]]), "Hostile.n default: expected an integer"),
    (spec(extends=False), "extends: expected an integer"),
    # text: bounded and valid
    (spec(doc=["x"]), "doc: expected text"),
    (spec(doc="\udc80"), "doc: expected text"),
    (spec(doc="a\x00b"), "doc: expected text"),
    (spec(doc="d" * 5000), "doc: expected text of at most 4096 characters"),
    (spec(fields=[["n", "u8"], ["t", "ascii[3]", "\udc80"]]), "Hostile.t default: expected ASCII"),
    # shapes
    (spec(fields=[["n", "u8"]], tail=[["t", "n", "utf8", "extra"]]), "a tail is"),
    (spec(fields=[["n", "u8"]], tail=[["t", "n", 5]]), "a tail is"),
    (spec(fields=[["n", "u8"]], tail=[["t", ["n"], "utf8"]]), "a tail is"),
    (spec(fields={"n": "u8"}), "fields: expected a list"),
    (spec(fields=[[["n"], "u8"]]), "fields.0. name"),
    (spec(fields=[["n", "u" + "8" * 100]]), "unknown field type"),
    (spec(fields=[["n", "bytes[0]"]]), "unknown field type"),
    (spec(fields=[["n", "bytes[٣]"]]), "unknown field type"),
    (spec(cache={"kind": "custom", "id": "n", "symbol": None}), "each a name"),
    (spec(cache=["kind"]), "cache is an object"),
    (spec(name=None), "name"),
    (spec(name=["Hostile"]), "name"),
    ({**BASE, "extra": 1}, "unknown key 'extra'"),
]


@pytest.mark.parametrize("obj, words", HOSTILE_SPECS)
def test_hostile_schema_objects_are_refused_as_schema_errors(obj, words):
    with pytest.raises(ap.SchemaError, match=words):
        ap.Schema.from_dict(obj)


@pytest.mark.parametrize("obj, words", HOSTILE_SPECS)
def test_hostile_announcements_are_refused_as_schema_errors(obj, words):
    registry = ap.Registry()
    with pytest.raises(ap.SchemaError, match=words):
        registry.learn(announcement(obj))
    assert 220 not in registry


@pytest.mark.parametrize("text, words", [
    ('{"message_type": 220, "version": 1, "name": "H", "fields": [["n", "u8", 1' + "0" * 5000
     + "]]}", "not JSON of a schema"),
    ("[" * 100_000, "not JSON of a schema"),
    ('{"message_type": 220, "version": 1, "name": "H", "fields": [], 5: 1}', "not JSON"),
    ("NaN", "a schema is an object"),
    ('"text"', "a schema is an object"),
])
def test_announcements_that_are_not_json_of_a_schema_are_refused(text, words):
    frame = ap.SchemaAnnouncement.encode(schema_type=220, schema_version=1, spec=text)
    with pytest.raises(ap.SchemaError, match=words):
        ap.Registry().learn(frame)


@pytest.mark.parametrize("document, words", [
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8]], 5: x, zz: y}", "unknown key"),
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8]], [a]: x}", "not valid yaml"),
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8, 2020-01-01]]}",
     "H.n default: expected an integer"),
    ("- {message_type: 220, version: 1, name: H, fields: !!set {a, b}}", "fields: expected a list"),
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8]], doc: !!binary aGk=}",
     "doc: expected text"),
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8, 1" + "0" * 5000 + "]]}",
     "not valid yaml: Exceeds the limit"),
    ("- {message_type: 220, version: 1, name: H, fields: [[n, u8]], tail: [[t, n, {}]]}",
     "a tail is"),
    ("- {message_type: 220, version: 1, name: 12, fields: []}", "name"),
    ("- null", "a schema is an object"),
    ("schemas: 5", "expected a list of schemas"),
])
def test_hostile_yaml_schema_files_are_refused_as_schema_errors(tmp_path, document, words):
    path = tmp_path / "hostile.yaml"
    path.write_text(document)
    registry = ap.Registry()
    with pytest.raises(ap.SchemaError, match=words):
        registry.load(path)
    assert 220 not in registry


def test_a_refused_tail_name_leaves_the_type_unknown():
    registry = ap.Registry()
    with pytest.raises(ap.SchemaError):
        registry.learn(announcement(spec(tail=[["__new__", "n", "utf8"]])))
    frame = bytearray(ap.Trade().to_bytes())
    frame[4] = 220
    with pytest.raises(ap.UnknownMessageTypeError):
        registry.decode(frame, verify=False)


def test_a_schema_may_not_take_the_name_of_another_registered_type():
    registry = ap.Registry()
    registry.register(ap.Schema.from_dict(spec(name="Momentum")))
    for name in ("Momentum", "MOMENTUM"):
        with pytest.raises(ap.SchemaError, match=f"name {name!r} is taken by type 220"):
            registry.register(ap.Schema.from_dict(spec(message_type=221, name=name)))
    # versions of one type share their name
    registry.register(ap.Schema.from_dict(spec(version=2, extends=1,
                                               fields=[["n", "u8"], ["m", "u8"]], name="Momentum")))
    assert registry.versions(220) == [1, 2]


def test_an_announced_builtin_name_cannot_overwrite_the_builtin_rows_on_export(tmp_path):
    fake = announcement(spec(message_type=201, name="Trade"), schema_type=201)
    capture = ap.Trade(price=5).to_bytes() + fake
    result = decode_batch(capture, registry=ap.Registry())
    assert len(result.refused_schemas) == 1 and "'Trade'" in result.refused_schemas[0]
    written = result.write(tmp_path / "cap.npz")
    with np.load(written[0]) as arrays:
        assert arrays["Trade"]["price"].tolist() == [5]


def traced_events(action: Callable[[], object]) -> int:
    """How many Python lines, calls and returns `action` runs: a count of the work done that,
    unlike a time, is the same on every machine."""
    count = 0

    def tracer(frame: object, event: str, arg: object) -> Callable:
        nonlocal count
        count += 1
        return tracer

    sys.settrace(tracer)
    try:
        action()
    finally:
        sys.settrace(None)
    return count


def test_registering_a_schema_takes_work_linear_in_its_fields():
    def register(n: int) -> Callable[[], object]:
        obj = spec(fields=[[f"f{i}", "u8"] for i in range(n)])
        registry = ap.Registry()
        return lambda: (registry.register(ap.Schema.from_dict(obj)), registry.dtype(220))

    small, large = traced_events(register(300)), traced_events(register(1200))
    assert large < 4.5 * small, (small, large)  # quadratic work would be 16 times as much
