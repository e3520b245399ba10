"""Schema versions side by side, transforms, and captures that carry their own schemas."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from frames import zeroed

V1 = ap.Schema(message_type=240, version=1, name="Momentum",
               fields=[("instrument_id", "instrument_id"), ("score", "i32")])
V2 = ap.Schema(message_type=240, version=2, name="Momentum", extends=1,
               fields=list(V1.fields) + [("horizon_s", "u32", 60)])
V3 = ap.Schema(message_type=240, version=3, name="Momentum", extends=2,
               fields=list(V2.fields) + [("confidence", "u8", 50), ("venue_hint", "u16")])
AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def registry_of(*schemas: ap.Schema) -> ap.Registry:
    registry = ap.Registry()
    for schema in schemas:
        registry.register(schema)
    return registry


@pytest.fixture(scope="module")
def frames() -> dict[int, bytes]:
    classes = registry_of(V1, V2, V3)
    return {
        1: classes.message_class(240, 1)(instrument_id=AAPL, score=-7, sequence=1).to_bytes(),
        2: classes.message_class(240, 2)(instrument_id=AAPL, score=8, horizon_s=30, sequence=2).to_bytes(),
        3: classes.message_class(240, 3)(instrument_id=AAPL, score=9, horizon_s=15, confidence=90,
                                         venue_hint=4, sequence=3).to_bytes(),
    }


def test_each_version_decodes_as_itself(frames):
    registry = registry_of(V1, V2, V3)
    assert [registry.decode(frames[v]).header.version for v in (1, 2, 3)] == [1, 2, 3]
    assert registry.decode(frames[3]).confidence == 90


def test_a_reader_of_version_1_reads_later_versions_and_reports_what_it_cannot_see(frames):
    registry = registry_of(V1)
    for version, extra in ((2, 4), (3, 7)):
        message = registry.decode(frames[version])
        assert type(message).schema == V1
        assert (message.score, message.instrument_id) == (ap.decode(frames[version], registry=registry_of(V1, V2, V3)).score, AAPL)
        assert message.unseen_bytes == extra
        assert not hasattr(message, "horizon_s")
        assert registry.unseen_fields(message) == ()   # it does not know those versions


def test_a_pinned_reader_names_the_fields_it_does_not_read(frames):
    registry = registry_of(V1, V2, V3)
    message = registry.read_as(frames[3], 240, 1)
    assert (message.score, message.unseen_bytes) == (9, 7)
    assert registry.unseen_fields(message) == ("horizon_s", "confidence", "venue_hint")


def test_earlier_frames_read_by_a_later_version_take_the_declared_defaults(frames):
    registry = registry_of(V1, V2, V3)
    message = registry.read_as(frames[1], 240, 3)
    assert (message.score, message.horizon_s, message.confidence, message.venue_hint) == (-7, 60, 50, 0)
    assert message.defaulted_fields == ("horizon_s", "confidence", "venue_hint")
    assert registry.read_as(frames[2], 240, 3).horizon_s == 30


def test_a_new_version_may_only_append():
    registry = registry_of(V1)
    changed = ap.Schema(message_type=240, version=2, name="Momentum", extends=1,
                        fields=[("instrument_id", "instrument_id"), ("score", "i64")])
    with pytest.raises(ap.SchemaError, match="may only append fields; field 'score' i64 is"
                       " 'score' i32 in version 1"):
        registry.register(changed)
    dropped = ap.Schema(message_type=240, version=2, name="Momentum", extends=1,
                        fields=[("instrument_id", "instrument_id")])
    with pytest.raises(ap.SchemaError, match="it drops fields of version 1"):
        registry.register(dropped)
    with pytest.raises(ap.SchemaError, match="extends version 2, which is not registered"):
        registry.register(V3)


def test_a_schema_with_a_tail_cannot_be_extended():
    tailed = ap.Schema(message_type=241, version=1, name="Note",
                       fields=[("len", "u8")], tail=[("text", "len", "utf8")])
    registry = registry_of(tailed)
    longer = ap.Schema(message_type=241, version=2, name="Note", extends=1,
                       fields=[("len", "u8"), ("more", "u8")], tail=[("text", "len", "utf8")])
    with pytest.raises(ap.SchemaError, match="a schema with a tail cannot be extended"):
        registry.register(longer)


def test_versions_with_no_extends_chain_are_not_read_as_each_other(frames):
    registry = registry_of(V1, ap.Schema(message_type=240, version=5, name="Other", fields=[("z", "u8")]))
    five = registry.message_class(240, 5)(z=1).to_bytes()
    with pytest.raises(ap.SchemaError, match="not versions of one another"):
        registry.read_as(five, 240, 1)


def test_the_legacy_arbitrage_message_reads_as_a_defi_signal():
    legacy = zeroed(ap.ArbitrageOpportunity, 
        base_id=AAPL, quote_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "MSFT"),
        estimated_profit=125, confidence=9_500, sequence=77, timestamp=1_700_000_000_123_456_789)
    signal = ap.schemas.default.read_as(legacy.to_bytes(), ap.MessageType.DeFiSignal)
    assert type(signal) is ap.DeFiSignal
    assert (signal.base_instrument, signal.quote_instrument) == (legacy.base_id, legacy.quote_id)
    assert signal.expected_profit_q == 125 * 100_000_000
    assert (signal.confidence, signal.signal_id, signal.created_at_sec) == (95, 77, 1_700_000_000)
    assert signal.header.sequence == 77
    assert ap.decode(signal.to_bytes()) == signal


def test_a_registered_transform_between_runtime_types(frames):
    registry = registry_of(V1, V2, V3)
    flat = registry.register(ap.Schema(message_type=242, version=1, name="Flat",
                                       fields=[("score", "i64")]))
    registry.register_transform((240, 3), (242, 1), lambda m: {"score": m.score * 10})
    result = registry.read_as(frames[3], 242)
    assert type(result) is flat and result.score == 90 and result.header.sequence == 3
    with pytest.raises(ap.SchemaError, match="no transform from Momentum version 1 to Flat version 1"):
        registry.read_as(frames[1], 242)


def _capture(frames: dict[int, bytes]) -> bytes:
    """Built-in frames, two announced versions of a custom type, in the order a producer sends."""
    trade = zeroed(ap.Trade, instrument_id=AAPL, price=1, volume=2, sequence=1).to_bytes()
    return b"".join([trade, V1.announce(), frames[1], trade, V2.announce(), frames[2], frames[1],
                     zeroed(ap.Quote, bid_price=5).to_bytes()])


def test_batch_decode_learns_the_schemas_a_capture_announces(frames):
    registry = ap.Registry()
    result = decode_batch(_capture(frames), registry=registry)
    assert not result.errors and not result.refused_schemas
    assert result.registry.versions(240) == [1, 2]
    assert registry.versions(240) == []      # learned for this decode, not into the registry
    assert result.versions(240) == [1, 2]
    rows = result[240]                       # both versions, as the newest, in input order
    assert rows.dtype == result.registry.dtype(240, 2)
    assert rows["score"].tolist() == [-7, 8, -7]
    assert rows["horizon_s"].tolist() == [60, 30, 60]
    assert rows["header"]["version"].tolist() == [1, 2, 1]
    assert result[240, 1]["score"].tolist() == [-7, -7]
    assert result.frame(240, 1) == frames[2]
    assert len(result[ap.MessageType.Trade]) == 2 and len(result[ap.MessageType.SchemaAnnouncement]) == 2


def test_without_announcements_a_custom_type_is_a_bad_stretch(frames):
    result = decode_batch(_capture(frames), registry=ap.Registry(), learn=False)
    assert [e.kind for e in result.errors] == ["unknown_type"] * 2
    assert 240 not in result


def test_a_conflicting_announcement_is_reported_and_decoding_goes_on(frames):
    registry = registry_of(ap.Schema(message_type=240, version=1, name="Clash", fields=[("x", "u8")]))
    result = decode_batch(_capture(frames), registry=registry)
    first, second = result.refused_schemas
    assert "Clash is registered there with another layout" in first
    assert "may only append fields" in second
    # Clash and V1 both claim version 1: its frames, and the version 2 frames it would read,
    # are read by neither
    assert [e.kind for e in result.errors] == ["schema_conflict"] * 2
    assert 240 not in result
    assert len(result[ap.MessageType.Quote]) == 1


def test_another_process_decodes_a_capture_by_its_announcements(tmp_path, frames):
    capture = tmp_path / "custom.bin"
    capture.write_bytes(_capture(frames))
    run = subprocess.run([sys.executable, "-m", "alphapulse_codec", "decode", str(capture),
                          "--format", "jsonl"], capture_output=True, text=True, check=True)
    objects = [json.loads(line) for line in run.stdout.splitlines()]
    custom = [o for o in objects if o["type"] == "Momentum"]
    assert [(o["header"]["version"], o["score"]) for o in custom] == [(1, -7), (2, 8), (1, -7)]
    assert custom[1]["horizon_s"] == 30
    out = tmp_path / "custom.npz"
    subprocess.run([sys.executable, "-m", "alphapulse_codec", "decode", str(capture), "--to",
                    str(out)], capture_output=True, text=True, check=True)
    with np.load(out) as arrays:
        assert arrays["Momentum"]["score"].tolist() == [-7, 8, -7]


def test_the_command_line_reads_schema_files(tmp_path, frames):
    registry = registry_of(V1, V2, V3)
    schemas = tmp_path / "momentum.yaml"
    registry.save(schemas)
    capture = tmp_path / "bare.bin"
    capture.write_bytes(frames[3] + frames[1])
    command = [sys.executable, "-m", "alphapulse_codec", "decode", str(capture), "--format", "jsonl"]
    bare = subprocess.run(command, capture_output=True, text=True)
    # without the schemas the frames are a bad stretch of an unknown type, skipped
    assert bare.returncode == 1 and bare.stdout == ""
    size = len(capture.read_bytes())
    assert bare.stderr == f"alphapulse: bad stretch: {size} bytes at byte 0, unknown_type\n"
    run = subprocess.run(command + ["--schemas", str(schemas)], capture_output=True, text=True,
                         check=True)
    assert [json.loads(line)["confidence"] for line in run.stdout.splitlines()[:1]] == [90]
    jsonl = tmp_path / "frames.jsonl"
    jsonl.write_text(run.stdout)
    rebuilt = tmp_path / "rebuilt.bin"
    subprocess.run([sys.executable, "-m", "alphapulse_codec", "encode", "--from-jsonl", str(jsonl),
                    "-o", str(rebuilt), "--schemas", str(schemas)], check=True)
    assert rebuilt.read_bytes() == capture.read_bytes()
    broken = tmp_path / "broken.yaml"
    broken.write_text("- {message_type: 240}\n")
    bad = subprocess.run(command + ["--schemas", str(broken)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("alphapulse: error: --schemas:")
    assert "Traceback" not in bad.stderr


def _frame_of_version(message_type: int, version: int, payload: bytes) -> bytes:
    """A sealed frame of a version no class here builds."""
    header = bytearray(32)
    header[:12] = (0xDEADBEEF).to_bytes(4, "little") + bytes([message_type, version, 0, 0]) + \
        len(payload).to_bytes(4, "little")
    frame = bytearray(header + payload)
    frame[28:32] = ap.crc32(bytes(frame[32:]), ap.crc32(bytes(frame[:28]))).to_bytes(4, "little")
    return bytes(frame)


def test_a_frame_read_by_an_open_schema_is_not_viewed_by_an_unrelated_version():
    registry = registry_of(
        ap.Schema(message_type=243, version=1, name="S", fields=[("a", "u8")]),
        ap.Schema(message_type=243, version=2, name="S", fields=[("a", "u8"), ("n", "u32")],
                  tail=[("t", "n", "bytes")]))
    frame = _frame_of_version(243, 3, bytes([1]) + (200_000).to_bytes(4, "little"))
    assert registry.decode(frame).unseen_bytes == 4
    with pytest.raises(ap.SchemaError, match="S version 1 .which reads this version 3 frame. and"
                       " version 2 are not versions of one another"):
        registry.read_as(frame, 243, 2)


@pytest.mark.parametrize("field, default, stored", [
    (("raw", "bytes[4]", "0xdeadbeef"), b"\xde\xad\xbe\xef", lambda c: [bytes(v) for v in c]),
    (("big", "u128", 2**70 + 5), 2**70 + 5, lambda c: ap.int128_to_int(c).tolist()),
    (("neg", "i128", -3), -3, lambda c: ap.int128_to_int(c).tolist()),
    (("tag", "ascii[4]", "ab"), b"ab", lambda c: c.tolist()),
])
def test_merged_batch_rows_hold_every_kind_of_default(field, default, stored):
    base = ap.Schema(message_type=244, version=1, name="D", fields=[("a", "u8")])
    later = ap.Schema(message_type=244, version=2, name="D", extends=1,
                      fields=[("a", "u8"), field])
    registry = registry_of(base, later)
    data = registry.message_class(244, 1)(a=1).to_bytes() + registry.message_class(244, 2)(a=2).to_bytes()
    rows = decode_batch(data, registry=registry)[244]
    assert stored(rows[field[0]]) == [default, default]


def test_unrelated_versions_are_not_merged():
    registry = registry_of(ap.Schema(message_type=245, version=1, name="P", fields=[("price", "u32")]),
                           ap.Schema(message_type=245, version=2, name="P", fields=[("price", "i8")]))
    data = (registry.message_class(245, 1)(price=1000).to_bytes()
            + registry.message_class(245, 2)(price=-1).to_bytes())
    result = decode_batch(data, registry=registry)
    with pytest.raises(ValueError, match=r"not versions of one another: take their rows apart"):
        result[245]
    assert result[245, 1]["price"].tolist() == [1000] and result[245, 2]["price"].tolist() == [-1]


def test_appended_ids_default_to_the_zero_id_and_replace_keeps_the_class_version(frames):
    registry = registry_of(V1, ap.Schema(message_type=240, version=2, name="Momentum", extends=1,
                                         fields=list(V1.fields) + [("other", "instrument_id")]))
    message = registry.read_as(frames[1], 240, 2)
    assert message.other == ap.InstrumentId() and message.defaulted_fields == ("other",)
    rebuilt = message.replace(score=1)
    assert (rebuilt.header.version, rebuilt.score, rebuilt.instrument_id) == (2, 1, AAPL)
    older = registry_of(V1).decode(frames[2])
    assert older.replace(score=5).to_bytes() == registry_of(V1).message_class(240, 1)(
        instrument_id=AAPL, score=5, sequence=2).to_bytes()


def test_decode_then_encode_on_the_command_line_keeps_announced_types(tmp_path, frames):
    capture = tmp_path / "custom.bin"
    capture.write_bytes(_capture(frames))
    jsonl, rebuilt = tmp_path / "frames.jsonl", tmp_path / "rebuilt.bin"
    python = [sys.executable, "-m", "alphapulse_codec"]
    subprocess.run(python + ["decode", str(capture), "-o", str(jsonl)], check=True)
    subprocess.run(python + ["encode", "--from-jsonl", str(jsonl), "-o", str(rebuilt)], check=True)
    assert rebuilt.read_bytes() == capture.read_bytes()
    only = tmp_path / "only.npz"
    subprocess.run(python + ["decode", str(capture), "--to", str(only), "--types", "240"], check=True)
    with np.load(only) as arrays:
        assert arrays["Momentum"]["score"].tolist() == [-7, 8, -7]
