"""Hostile input on the schema side: announcements, schema files and the batch learner.

Whatever a capture or a schema file holds, a schema is registered whole or refused with a
SchemaError that names the field at fault; a decode learns into a registry of its own.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from alphapulse_codec.wire.canonical import canonical_json
from frames import raw_announcement, zeroed

BASE = {"message_type": 220, "version": 1, "name": "Hostile", "fields": [["n", "u8"]]}


def announcement(obj: object, schema_type: int = 220, version: int = 1, extends: int = 0) -> bytes:
    return raw_announcement(canonical_json(obj), schema_type, version, extends)


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


def _holds_a_float(value: object) -> bool:
    if isinstance(value, dict):
        return any(_holds_a_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_a_float(v) for v in value)
    return isinstance(value, float)


@pytest.mark.parametrize("obj, words", HOSTILE_SPECS)
def test_hostile_announcements_are_refused_as_schema_errors(obj, words):
    registry = ap.Registry()
    if _holds_a_float(obj):  # canonical JSON has integers only: refused before its fields are read
        words = "not canonical JSON .*is not an integer"
    with pytest.raises(ap.SchemaError, match=words):
        registry.learn(announcement(obj))
    assert 220 not in registry


@pytest.mark.parametrize("text, words", [
    ('{"message_type": 220, "version": 1, "name": "H", "fields": [["n", "u8", 1' + "0" * 5000
     + "]]}", "not JSON of a schema"),
    ("[" * 100_000, "not JSON of a schema"),
    ('{"message_type": 220, "version": 1, "name": "H", "fields": [], 5: 1}', "not JSON"),
    ("NaN", "not JSON of a schema"),
    ('{"version": 1, "message_type": 220, "name": "H", "fields": []}', "not canonical"),
    ('"text"', "a schema is an object"),
])
def test_announcements_that_are_not_json_of_a_schema_are_refused(text, words):
    frame = raw_announcement(text)
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
    frame = bytearray(zeroed(ap.Trade).to_bytes())
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
    capture = zeroed(ap.Trade, price=5).to_bytes() + fake
    result = decode_batch(capture, registry=ap.Registry())
    assert len(result.refused_schemas) == 1 and "'Trade'" in result.refused_schemas[0]
    written = result.write(tmp_path / "cap.npz")
    with np.load(written) as arrays:
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


# ------------------------------------------------------------------ the batch learner

def frame_of(registry: ap.Registry, message_type: int, **fields: object) -> bytes:
    return registry.message_class(message_type)(**fields).to_bytes()


def schema_of(message_type: int, version: int = 1, name: str | None = None,
              fields: list | None = None) -> ap.Schema:
    return ap.Schema.from_dict({"message_type": message_type, "version": version,
                                "name": name or f"T{message_type}v{version}",
                                "fields": fields or [["n", "u8"]]})


def test_an_announcement_that_fails_in_any_way_is_a_refusal_at_its_offset():
    class Failing(ap.Registry):
        def learn(self, frame: object, verify: bool = True) -> type:
            raise RuntimeError("out of something")

    trade = zeroed(ap.Trade, price=7).to_bytes()
    capture = trade + schema_of(220).announce() + trade
    result = decode_batch(capture, learn_into=Failing())
    [refused] = result.refused_schemas
    assert refused.offset == len(trade)
    assert "RuntimeError" in refused and "out of something" in refused.reason
    assert result[ap.MessageType.Trade]["price"].tolist() == [7, 7]


def test_refusals_name_the_byte_offset_of_their_announcement():
    trade = zeroed(ap.Trade).to_bytes()
    bad = announcement(spec(doc=["x"]))
    result = decode_batch(trade + bad + trade + bad)
    assert [r.offset for r in result.refused_schemas] == [len(trade), 2 * len(trade) + len(bad)]
    assert all(r.startswith(f"at byte {r.offset}: ") and "doc" in r for r in result.refused_schemas)


def test_a_decode_learns_at_most_max_announcements():
    builder = ap.Registry()
    schemas = [schema_of(t) for t in range(220, 225)]
    capture = b"".join(s.announce() + frame_of(builder, s.message_type, n=1)
                       for s in schemas for _ in [builder.register(s)])
    result = decode_batch(capture, max_announcements=3)
    assert result.types == [ap.MessageType.SchemaAnnouncement, 220, 221, 222]
    assert [r.offset for r in result.refused_schemas] == [
        capture.index(schemas[3].announce()), capture.index(schemas[4].announce())]
    assert all("max_announcements" in r for r in result.refused_schemas)
    assert [e.kind for e in result.errors] == ["unknown_type"] * 2  # the frames of 223, 224


def test_the_default_limit_of_announcements_per_decode():
    schemas = [schema_of(t, v) for t in range(200, 256) for v in range(1, 20)][:1030]
    result = decode_batch(b"".join(s.announce() for s in schemas))
    assert sum(len(result.registry.versions(t)) for t in range(200, 256)) == 1024
    assert len(result.refused_schemas) == 6


def test_a_decode_learns_at_most_max_schema_bytes():
    announcements = [schema_of(t).announce() for t in range(220, 225)]
    budget = len(announcements[0]) * 2 + len(announcements[0]) // 2
    result = decode_batch(b"".join(announcements), max_schema_bytes=budget)
    assert [t for t in range(220, 225) if t in result.registry] == [220, 221]
    assert len(result.refused_schemas) == 3
    assert all("max_schema_bytes" in r for r in result.refused_schemas)


def test_limits_hold_across_the_chunks_of_iter_batches(tmp_path):
    from alphapulse_codec.capture.batch import iter_batches

    path = tmp_path / "many.bin"
    path.write_bytes(b"".join(schema_of(t).announce() for t in range(200, 256)))
    chunks = list(iter_batches(path, chunk_bytes=4096, max_announcements=10))
    assert len(chunks) > 1
    assert sum(len(c.refused_schemas) for c in chunks) == 46


@pytest.mark.parametrize("limits", [dict(max_announcements=-1), dict(max_schema_bytes=1.5),
                                    dict(max_announcements=True)])
def test_limits_are_checked(limits):
    with pytest.raises(ValueError, match="must be an int of at least 0"):
        decode_batch(b"", **limits)


# ------------------------------------------------------------------ isolation

A = schema_of(220, name="PriceOnly", fields=[["price", "i64"]])
B = schema_of(220, name="Pair", fields=[["qty", "u32"], ["side", "u8"], ["_pad", "pad[3]"]])


def capture_of(schema: ap.Schema, rows: list[dict]) -> tuple[bytes, list[bytes]]:
    cls = ap.Registry().register(schema)
    frames = [cls(**row).to_bytes() for row in rows]
    return schema.announce() + b"".join(frames), frames


def test_each_capture_decodes_by_its_own_announcements_and_leaves_the_default_alone():
    capture_a, frames_a = capture_of(A, [{"price": -5}, {"price": 9}])
    capture_b, frames_b = capture_of(B, [{"qty": 3, "side": 1}])
    result_a, result_b = decode_batch(capture_a), decode_batch(capture_b)
    assert result_a[220]["price"].tolist() == [-5, 9] and not result_a.errors
    assert result_b[220]["qty"].tolist() == [3] and result_b[220]["side"].tolist() == [1]
    assert not result_a.refused_schemas and not result_b.refused_schemas
    assert 220 not in ap.schemas.default
    for frame in frames_a + frames_b:
        with pytest.raises(ap.UnknownMessageTypeError):
            ap.decode(frame)
    assert decode_batch(capture_a)[220]["price"].tolist() == [-5, 9]  # and again


def test_learn_into_registers_the_announcements_in_the_registry_given():
    shared = ap.Registry()
    capture_a, frames_a = capture_of(A, [{"price": 4}])
    result = decode_batch(capture_a, learn_into=shared)
    assert result.registry is shared and shared.schema(220) == A
    assert shared.decode(frames_a[0]).price == 4


def test_learn_into_is_the_registry_that_decodes():
    with pytest.raises(ValueError, match="learn_into"):
        decode_batch(b"", registry=ap.Registry(), learn_into=ap.Registry())
    with pytest.raises(ValueError, match="learn_into"):
        decode_batch(b"", learn=False, learn_into=ap.Registry())


def test_nothing_a_capture_defines_outlives_its_result():
    import gc
    import weakref

    capture_a, _ = capture_of(A, [{"price": 1}])
    version_2 = schema_of(220, 2, name="PriceOnly", fields=[["n", "u8"]]).announce()
    result = decode_batch(capture_a + version_2)  # 220's C rules published twice
    assert result.registry.versions(220) == [1, 2]
    learned = weakref.ref(result.registry.message_class(220))
    overlay = weakref.ref(result.registry)
    unraisable: list = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        del result
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert learned() is None and overlay() is None
    assert not unraisable  # the C rules, the replaced ones too, were freed with the overlay


def test_an_overlay_starts_with_its_parent_and_changes_apart_from_it():
    parent = ap.Registry()
    parent_class = parent.register(A)
    child = parent.overlay()
    assert child.schema(220) == A and child.message_class(220) is parent_class
    assert type(child.decode(parent_class(price=3).to_bytes())) is parent_class
    child.register(schema_of(221))
    parent.register(schema_of(222))
    assert 221 not in parent and 222 not in child
    assert child._table.count_lookups(221, 1, 3) == 3 and parent._table.count_lookups(221, 1, 3) == 0
    assert child._table.count_lookups(222, 1, 3) == 0
    assert child.type_of_name("PriceOnly") == 220
    with pytest.raises(ap.SchemaError, match="taken by type 220"):
        child.register(schema_of(223, name="PriceOnly"))


def test_a_copied_rule_table_outlives_the_table_it_copied():
    import gc

    parent = ap.Registry()
    cls = parent.register(A)
    child = parent.overlay()
    frame = cls(price=11).to_bytes()
    del parent, cls
    gc.collect()
    assert child.decode(frame).price == 11
    assert child._table.count_lookups(ap.MessageType.Trade, 1, 5) == 5


# ------------------------------------------------------------------ conflicts

def test_frames_after_a_conflicting_announcement_are_a_schema_conflict_stretch():
    capture_a, frames_a = capture_of(A, [{"price": 1}, {"price": 2}])
    capture_b, frames_b = capture_of(B, [{"qty": 3, "side": 1}, {"qty": 4, "side": 2}])
    trade = zeroed(ap.Trade, price=99).to_bytes()
    capture = capture_a + trade + capture_b + trade
    result = decode_batch(capture)
    assert result[220]["price"].tolist() == [1, 2]  # read before the conflict, by A
    [refused] = result.refused_schemas
    assert refused.offset == capture.index(B.announce()) and "another layout" in refused
    start = capture.index(frames_b[0])
    assert result.errors == [(start, 2 * len(frames_b[0]), "schema_conflict")]
    assert result[ap.MessageType.Trade]["price"].tolist() == [99, 99]
    assert result.registry.conflicts == {(220, 1)}
    with pytest.raises(ap.SchemaConflictError, match="version 1 of type 220 at byte 5 was"
                       " announced with two layouts") as caught:
        result.registry.decode(frames_a[0])
    assert isinstance(caught.value, ap.ParseError) and caught.value.field == "version"
    assert not ap.schemas.default.conflicts


def test_a_conflict_covers_the_later_versions_its_schema_reads():
    capture_a, _ = capture_of(A, [{"price": 1}])
    later = bytearray(ap.Registry().register(A)(price=5).to_bytes())
    later[5] = 2  # version 2, read by version 1 (open) as long as 1 is trusted
    registry = ap.Registry()
    registry.learn(capture_a[:len(A.announce())])
    assert registry.decode(_resealed(later)).price == 5
    with pytest.raises(ap.LayoutConflictError):
        registry.learn(B.announce())
    with pytest.raises(ap.SchemaConflictError):
        registry.decode(_resealed(later))


def test_the_same_announcement_twice_is_no_conflict():
    capture_a, _ = capture_of(A, [{"price": 1}])
    result = decode_batch(capture_a + capture_a)
    assert result[220]["price"].tolist() == [1, 1] and not result.errors


def _resealed(frame: bytearray) -> bytes:
    frame[28:32] = ap.crc32(bytes(frame[:28]) + bytes(frame[32:])).to_bytes(4, "little")
    return bytes(frame)
