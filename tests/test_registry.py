"""Schema registry: built-in and run-time schemas, registration rules, lookups, files."""
from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch, encode_batch
from alphapulse_codec.wire.layouts import MESSAGES
from frames import zeroed

EVERY_KIND = ap.Schema(
    message_type=210, version=1, name="EveryKind",
    fields=[("a_u8", "u8"), ("a_u16", "u16"), ("a_u32", "u32"), ("a_u64", "u64"),
            ("a_i8", "i8"), ("a_i16", "i16"), ("a_i32", "i32"), ("a_i64", "i64"),
            ("a_u128", "u128"), ("a_i128", "i128"), ("instrument", "instrument_id"),
            ("address", "bytes[20]"), ("code", "ascii[6]"), ("_gap", "pad[3]"),
            ("note_len", "u16")],
    tail=[("note", "note_len", "utf8")])

EXTREMES = {
    "a_u8": 255, "a_u16": 65535, "a_u32": 2**32 - 1, "a_u64": 2**64 - 1,
    "a_i8": -128, "a_i16": -32768, "a_i32": -2**31, "a_i64": -2**63,
    "a_u128": 2**128 - 1, "a_i128": -2**127,
    "instrument": ap.InstrumentId.stock(ap.VenueId.NYSE, "IBM"),
    "address": bytes(range(20)), "code": "XS", "note": "ünïcode note",
}


@pytest.fixture
def registry() -> ap.Registry:
    return ap.Registry()


def test_every_builtin_type_has_its_layout_as_a_schema(registry):
    for message_type, layout in MESSAGES.items():
        schema = registry.schema(message_type)
        assert schema.builtin and schema.version == 1 and schema.layout is layout
        assert registry.message_class(message_type, 1) is ap.MESSAGE_CLASSES[message_type]
        assert registry.versions(message_type) == [1]


def test_a_runtime_schema_builds_and_decodes_every_field_kind(registry):
    cls = registry.register(EVERY_KIND)
    frame = cls.encode(**EXTREMES, sequence=5, timestamp=6, source=7, flags=8)
    message = registry.decode(frame)
    assert type(message) is cls
    for name, value in EXTREMES.items():
        assert getattr(message, name) == value, name
    assert message.note_len == len("ünïcode note".encode())
    assert (message.header.sequence, message.header.timestamp, message.header.source,
            message.header.flags, message.header.version) == (5, 6, 7, 8, 1)
    assert message.to_bytes() == frame == cls(**EXTREMES, sequence=5, timestamp=6, source=7,
                                              flags=8).to_bytes()
    assert message.replace(a_u8=1).a_u8 == 1


def test_runtime_fields_sit_where_the_dtype_and_the_layout_put_them(registry):
    cls = registry.register(EVERY_KIND)
    dtype = registry.dtype(210)
    for f in EVERY_KIND.layout.value_fields:
        descriptor = vars(cls)[f.name]
        assert descriptor.offset == 32 + f.offset == dtype.fields[f.name][1]
        assert descriptor.size == f.size == dtype.fields[f.name][0].itemsize
    assert dtype.itemsize == 32 + EVERY_KIND.layout.body_size


@pytest.mark.parametrize("name, value, words", [
    ("a_u8", 256, "EveryKind.a_u8 (frame offset 32, u8): 256 is out of range [0, 255]"),
    ("a_i16", 40000, "EveryKind.a_i16 (frame offset 48, i16): 40000 is out of range"),
    ("code", "TOOLONG", "7 characters do not fit in 6"),
    ("address", b"\x01", "expected 20 bytes, got 1"),
    ("nope", 1, "EveryKind: unknown field 'nope'"),
])
def test_bad_build_values_name_the_field_and_its_offset(registry, name, value, words):
    cls = registry.register(EVERY_KIND)
    with pytest.raises(ap.FieldValueError, match=re.escape(words)):
        cls(**{name: value})


@given(st.integers(-2**31, 2**31 - 1), st.integers(0, 2**64 - 1), st.text(max_size=100))
def test_runtime_round_trip_property(score, quantity, note):
    registry = ap.Registry()
    cls = registry.register(ap.Schema(
        message_type=220, version=1, name="Prop",
        fields=[("score", "i32"), ("quantity", "u64"), ("note_len", "u8")],
        tail=[("note", "note_len", "utf8")]))
    if len(note.encode("utf-8", "surrogateescape")) > 255:
        with pytest.raises(ap.FieldValueError, match="Prop.note"):
            cls(note=note)
        return
    message = registry.decode(cls(score=score, quantity=quantity, note=note).to_bytes())
    assert (message.score, message.quantity, message.note) == (score, quantity, note)


def test_registering_the_same_layout_twice_is_a_no_op(registry):
    first = registry.register(EVERY_KIND)
    again = ap.Schema.from_dict(json.loads(EVERY_KIND.to_json()))
    assert registry.register(again) is first


def test_a_conflicting_layout_for_a_registered_version_is_refused(registry):
    registry.register(EVERY_KIND)
    other = ap.Schema(message_type=210, version=1, name="EveryKind", fields=[("x", "u8")])
    with pytest.raises(ap.SchemaError, match=r"EveryKind \(type 210, version 1\): EveryKind is"
                       " registered there with another layout; a new layout needs a new version"):
        registry.register(other)


def test_builtin_types_are_refused_unless_asked_for(registry):
    trade_like = ap.Schema(message_type=1, version=1, name="MyTrade", fields=[("p", "i64")])
    with pytest.raises(ap.SchemaError, match="a built-in schema has this type and version"):
        registry.register(trade_like)
    trade_v2 = ap.Schema(message_type=1, version=2, name="Trade2", fields=[("p", "i64")])
    with pytest.raises(ap.SchemaError, match="types outside 200-255 belong to the built-in"):
        registry.register(trade_v2)
    cls = registry.register(trade_like, override=True)
    assert type(registry.decode(cls(p=3).to_bytes())) is cls
    # the default registry is untouched
    assert type(ap.decode(zeroed(ap.Trade, price=1).to_bytes())) is ap.Trade


def test_builtin_types_still_refuse_unknown_versions():
    frame = bytearray(zeroed(ap.Trade, price=1).to_bytes())
    frame[5] = 2
    frame[28:32] = ap.crc32(bytes(frame[:28]) + bytes(frame[32:])).to_bytes(4, "little")
    with pytest.raises(ap.UnknownVersionError, match="unknown version 2 of Trade at byte 5"):
        ap.decode(bytes(frame))


@pytest.mark.parametrize("spec, words", [
    (dict(message_type=0, version=1, name="X", fields=[]), "message_type: expected an integer in"),
    (dict(message_type=201, version=256, name="X", fields=[]), "version: expected an integer"),
    (dict(message_type=201, version=1, name="not valid", fields=[]), "is not a Python identifier"),
    (dict(message_type=201, version=1, name="X", fields=[("a", "u7")]), "unknown field type 'u7'"),
    (dict(message_type=201, version=1, name="X", fields=[("a", "u8"), ("a", "u8")]), "duplicate"),
    (dict(message_type=201, version=1, name="X", fields=[("header", "u8")]), "messages use"),
    (dict(message_type=201, version=1, name="X", fields=[("a", "u8", 300)]), r"in \[0, 255\]"),
    (dict(message_type=201, version=1, name="X", fields=[("a", "u8")], tail=[("t", "b", "utf8")]),
     "count field 'b' is not a field"),
    (dict(message_type=201, version=2, name="X", fields=[], extends=2), "cannot extend version 2"),
    (dict(message_type=201, version=1, name="X", fields=[("a", "u8")],
          cache={"kind": "instrument", "id": "a"}), "not an instrument_id field"),
])
def test_malformed_schemas_say_what_is_wrong(spec, words):
    with pytest.raises(ap.SchemaError, match=words):
        ap.Schema(**spec)


def test_json_form_round_trips_and_is_canonical():
    signal = ap.Schema(message_type=230, version=2, name="Sig", extends=1, doc="d",
                       fields=[("id", "instrument_id"), ("x", "i16", -3), ("raw", "bytes[2]", "0x0102")],
                       cache={"kind": "custom", "id": "id"})
    text = signal.to_json()
    assert json.loads(text) == signal.to_dict() and " " not in text
    assert ap.Schema.from_dict(json.loads(text)) == signal
    assert signal.default("raw") == b"\x01\x02" and signal.default("x") == -3


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_schema_files_save_and_load(tmp_path, registry, suffix):
    registry.register(EVERY_KIND)
    path = tmp_path / f"schemas{suffix}"
    registry.save(path)
    loaded = (yaml.safe_load if suffix == ".yaml" else json.loads)(path.read_text())
    assert loaded == {"schemas": [EVERY_KIND.to_dict()]}
    fresh = ap.Registry()
    [cls] = fresh.load(path)
    assert fresh.schema(210, 1) == EVERY_KIND and cls.layout == EVERY_KIND.layout


def test_a_bad_schema_file_names_the_file_and_the_schema(tmp_path, registry):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"message_type": 201, "version": 1, "name": "A", "fields": [["x", "q"]]}]))
    with pytest.raises(ap.SchemaError, match=r"bad.json: schema 0: A.x: unknown field type 'q'"):
        registry.load(path)
    path.write_text("{")
    with pytest.raises(ap.SchemaError, match="bad.json: not valid json"):
        registry.load(path)


def test_announcements_register_the_schema_elsewhere(registry):
    frame = EVERY_KIND.announce(sequence=1)
    announcement = ap.decode(frame)
    assert type(announcement) is ap.SchemaAnnouncement
    assert (announcement.schema_type, announcement.schema_version) == (210, 1)
    assert json.loads(announcement.spec) == EVERY_KIND.to_dict()
    cls = registry.learn(frame)
    assert registry.schema(210, 1) == EVERY_KIND
    assert registry.decode(cls(**EXTREMES).to_bytes()).note == EXTREMES["note"]


def test_an_announcement_whose_fixed_fields_disagree_is_refused(registry):
    frame = ap.SchemaAnnouncement.encode(schema_type=211, schema_version=1, extends_version=0,
                                         spec=EVERY_KIND.to_json())
    with pytest.raises(ap.SchemaError, match="disagree with its spec"):
        registry.learn(frame)


def test_lookups_run_in_c_for_any_registered_version(registry):
    registry.register(EVERY_KIND)
    assert registry._table.count_lookups(210, 1, 1000) == 1000
    assert registry._table.count_lookups(210, 7, 10) == 0      # closed: has a tail
    assert registry._table.count_lookups(211, 1, 10) == 0


@pytest.mark.threads
def test_registering_while_other_threads_decode():
    registry = ap.Registry()
    trades = encode_batch(np.zeros(20_000, dtype=ap.dtype(ap.MessageType.Trade)))
    failures: list[BaseException] = []
    done = threading.Event()

    def decode_repeatedly() -> None:
        try:
            while not done.is_set():
                result = decode_batch(trades, registry=registry)
                assert len(result) == 20_000 and not result.errors
                assert registry.decode(trades[:64]).price == 0
        except BaseException as error:  # reported below, in the main thread
            failures.append(error)

    readers = [threading.Thread(target=decode_repeatedly) for _ in range(2)]
    for reader in readers:
        reader.start()
    for number in range(200, 256):
        for version in (1, 2, 3):
            cls = registry.register(ap.Schema(
                message_type=number, version=version, name=f"T{number}",
                fields=[("a", "u32")] + [(f"v{v}", "u8") for v in range(2, version + 1)],
                extends=version - 1 if version > 1 else None))
            assert registry.decode(cls(a=number).to_bytes()).a == number
    done.set()
    for reader in readers:
        reader.join()
    assert not failures
    assert all(registry.versions(n) == [1, 2, 3] for n in range(200, 256))


@pytest.mark.parametrize("spec, words", [
    (dict(fields=[["blob", "bytes[70000]"]]), "a fixed body of 70000 bytes is over the maximum"),
    (dict(fields=[["n", "u8"]], tail=[["a", "n", "utf8"], ["b", "n", "bytes"]]), "share their count field"),
    (dict(fields=[["__init__", "u8"]]), "only pad.N. fields may start with '_'"),
    (dict(fields=[["b", "bytes[2]", "0xZZ"]]), "expected 2 bytes or '0x' . hex"),
    (dict(fields=[["i", "instrument_id"]], cache={"kind": "custom", "id": ["i"]}), "each a name"),
    (dict(fields=[["a", ["u8"]]]), "unknown field type"),
])
def test_malformed_schema_objects_from_outside_are_schema_errors(registry, spec, words):
    obj = {"message_type": 201, "version": 1, "name": "M", **spec}
    with pytest.raises(ap.SchemaError, match=words):
        ap.Schema.from_dict(obj)
    frame = ap.SchemaAnnouncement.encode(schema_type=201, schema_version=1,
                                         spec=json.dumps(obj, sort_keys=True, separators=(",", ":")))
    result = decode_batch(frame + zeroed(ap.Trade).to_bytes(), registry=registry)
    assert len(result.refused_schemas) == 1 and len(result[ap.MessageType.Trade]) == 1


def test_a_deeply_nested_announcement_is_refused(registry):
    spec = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ap.FieldValueError, match="nested too deeply"):
        ap.SchemaAnnouncement.encode(schema_type=201, schema_version=1, spec=spec)
    # as a producer that does not check would send it
    small = ap.SchemaAnnouncement.encode(schema_type=201, schema_version=1, spec="[]")
    payload = small[32:36] + len(spec).to_bytes(4, "little") + spec.encode()
    frame = bytearray(small[:32] + payload)
    frame[8:12] = len(payload).to_bytes(4, "little")
    frame[28:32] = ap.crc32(bytes(frame[32:]), ap.crc32(bytes(frame[:28]))).to_bytes(4, "little")
    with pytest.raises(ap.SchemaError, match="not JSON of a schema"):
        registry.learn(bytes(frame))


def test_decoders_find_the_schema_of_every_rule_they_find_while_types_are_registered():
    schemas = [ap.Schema(message_type=n, version=1, name=f"T{n}", fields=[("a", "u32")])
               for n in range(200, 256)]
    builder = ap.Registry()
    frames = [builder.register(s)(a=s.message_type).to_bytes() for s in schemas]
    capture = b"".join(frames) * 4
    failures: list[BaseException] = []

    for _ in range(10):
        registry = ap.Registry()
        done = threading.Event()

        def decode_repeatedly() -> None:
            try:
                while not done.is_set():
                    result = decode_batch(capture, registry=registry, learn=False)
                    assert {e.kind for e in result.errors} <= {"unknown_type"}
                    for number in result.types:
                        assert set(result[number]["a"].tolist()) == {number}
                    for frame in frames[::11]:
                        try:
                            message = registry.decode(frame)
                        except ap.UnknownMessageTypeError:
                            continue
                        assert message.a == message.header.message_type
            except BaseException as error:  # reported below, in the main thread
                failures.append(error)
                done.set()

        readers = [threading.Thread(target=decode_repeatedly) for _ in range(2)]
        for reader in readers:
            reader.start()
        for schema in schemas:
            registry.register(schema)
        done.set()
        for reader in readers:
            reader.join()
        assert not failures, failures[0]


def test_register_gives_a_run_time_message_class_or_refuses(registry):
    cls = registry.register(EVERY_KIND)
    assert issubclass(cls, ap.RuntimeMessage) and registry.register(EVERY_KIND) is cls
    # the built-in layout again, under its own name: not a repeat that hands back ap.Trade
    trade = ap.Schema(message_type=1, version=1, name="Trade",
                      fields=[(f.name, f.type) for f in MESSAGES[ap.MessageType.Trade].fields])
    with pytest.raises(ap.SchemaError, match="a built-in schema has this type and version"):
        registry.register(trade)
    replaced = registry.register(trade, override=True)
    assert issubclass(replaced, ap.RuntimeMessage) and replaced is not ap.Trade
