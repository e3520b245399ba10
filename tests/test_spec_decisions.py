"""The cases docs/protocol.md decides that a second implementation found left to chance."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import alphapulse_codec as ap
from alphapulse_codec.wire.jsonmap import from_json, to_json
from alphapulse_codec.wire.layouts import HEADER, MESSAGES
from frames import zeroed, zeroed_frame

PROTOCOL = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def _strict_round_trip(obj: dict, registry=None) -> bytes:
    """The frame of `obj` after a trip through JSON text that a strict reader accepts."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # a lone surrogate cannot be written as UTF-8: strict readers refuse it
    again = json.loads(text)
    return from_json(again) if registry is None else from_json(again, registry)


def _resealed(frame: bytes, offset: int, raw: bytes) -> bytes:
    out = bytearray(frame)
    out[offset:offset + len(raw)] = raw
    out[28:32] = ap.crc32(bytes(out[32:]), ap.crc32(bytes(out[:28]))).to_bytes(4, "little")
    return bytes(out)


def _trade_json(**changes):
    obj = to_json(ap.Trade(instrument_id=AAPL, price=5, volume=6, side=1, sequence=7,
                           timestamp=8, source=5))
    obj.update(changes)
    return obj


def test_1_a_field_missing_from_json_is_refused_unless_it_has_a_declared_default():
    full = _trade_json()
    for name in ("price", "instrument_id", "flags"):
        partial = {k: v for k, v in full.items() if k != name}
        with pytest.raises(ap.FieldValueError, match=f"Trade: missing field '{name}'") as error:
            from_json(partial)
        assert error.value.field == name
    for name in ("sequence", "timestamp", "source"):
        header = {k: v for k, v in full["header"].items() if k != name}
        with pytest.raises(ap.FieldValueError, match=f"header: missing field '{name}'"):
            from_json(dict(full, header=header))
    with pytest.raises(ap.FieldValueError, match="expected an object with venue"):
        from_json(dict(full, instrument_id={"venue": 2, "asset_id": 1}))
    # computed fields, the declared defaults and an absent tlv list may be left out
    header = {k: full["header"][k] for k in ("sequence", "timestamp", "source")}
    lean = {k: v for k, v in full.items() if k != "tlv"}
    assert from_json(dict(lean, header=header)) == from_json(full)
    schema = ap.Schema(message_type=230, version=1, name="Defaults",
                       fields=[("a", "u8"), ("b", "u16", 7)])
    registry = ap.Registry()
    cls = registry.register(schema)
    obj = {"type": "Defaults", "header": header, "a": 1}
    assert from_json(obj, registry) == cls(a=1, b=7, sequence=7, timestamp=8, source=5).to_bytes()
    with pytest.raises(ap.FieldValueError, match="Defaults: missing field 'a'"):
        from_json({"type": "Defaults", "header": header, "b": 1}, registry)


def test_2_every_ascii_field_that_decodes_encodes_back_byte_identical():
    frame = zeroed_frame(ap.StrategyAlert, text="x", sequence=1)
    odd = b"\x00a\x00\x01\x7f\x80\xe9\xff" + b"\0" * 24
    weird = _resealed(frame, 68, odd)
    message = ap.decode(weird)
    assert message.text == "\x00a\x00\x01\x7f\x80\xe9\xff"
    assert _strict_round_trip(to_json(message)) == weird
    assert zeroed_frame(ap.StrategyAlert, text=message.text, sequence=1) == weird
    with pytest.raises(ap.FieldValueError, match=r"StrategyAlert.text \(frame offset 68.*ends in NUL"):
        zeroed_frame(ap.StrategyAlert, text="ab\x00")
    with pytest.raises(ap.FieldValueError, match=r"character 3 \('€'\) is above U\+00FF"):
        zeroed_frame(ap.StrategyAlert, text="caf\u20ac")


def test_3_invalid_utf8_in_a_tail_is_an_escape_strict_readers_accept():
    frame = zeroed_frame(ap.ErrorReport, text="ok\udcff\udcfe", sequence=3)
    assert frame[48:] == b"ok\xff\xfe"
    obj = to_json(ap.decode(frame))
    assert obj["text"] == {"utf8_invalid": "0x6f6bfffe"}
    assert _strict_round_trip(obj) == frame
    assert to_json(ap.decode(zeroed_frame(ap.ErrorReport, text="fine é", sequence=3)))["text"] == "fine é"
    with pytest.raises(ap.FieldValueError, match="utf8_invalid holds valid UTF-8"):
        from_json(dict(obj, text={"utf8_invalid": "0x6f6b"}))
    with pytest.raises(ap.FieldValueError, match="lone surrogates are not text"):
        from_json(dict(obj, text="ok\udcff"))


def test_4_typed_tlvs_carry_their_wire_bytes_and_refuse_disagreeing_fields():
    payload = bytes(range(1, 41)) + b"\x0a\x0b"  # reserved bytes 0a 0b, not zero
    frame = zeroed_frame(ap.Trade, instrument_id=AAPL, sequence=1, tlv=[ap.RawTLV(1, payload)])
    obj = to_json(ap.decode(frame))
    (tlv,) = obj["tlv"]
    assert tlv["payload"] == "0x" + payload.hex() and tlv["reserved"] == "0x0a0b"
    assert tlv["venue_a_pool"] == "0x" + payload[:20].hex()
    assert _strict_round_trip(obj) == frame
    fields_only = {k: v for k, v in tlv.items() if k != "payload"}
    assert from_json(dict(obj, tlv=[fields_only])) == frame
    payload_only = {"tlv_type": 1, "payload": tlv["payload"]}
    assert from_json(dict(obj, tlv=[payload_only])) == frame
    with pytest.raises(ap.FieldValueError, match=r"tlv\[0\].venue_b_pool: .* disagrees with the payload"):
        from_json(dict(obj, tlv=[dict(tlv, venue_b_pool="0x" + "00" * 20)]))
    with pytest.raises(ap.FieldValueError, match=r"tlv\[0\].reserved: .* disagrees with the payload"):
        from_json(dict(obj, tlv=[dict(tlv, reserved="0x0000")]))
    with pytest.raises(ap.FieldValueError, match=r"tlv\[0\]: missing field 'venue_b_pool'"):
        from_json(dict(obj, tlv=[{"tlv_type": 1, "venue_a_pool": tlv["venue_a_pool"]}]))


def test_5_a_later_version_keeps_its_unseen_bytes_through_json():
    v1 = ap.Schema(message_type=231, version=1, name="Later", fields=[("a", "u8")])
    v2 = ap.Schema(message_type=231, version=2, name="Later", extends=1,
                   fields=[("a", "u8"), ("b", "u32")])
    writer, reader = ap.Registry(), ap.Registry()
    writer.register(v1)
    frame = writer.register(v2)(a=1, b=0xDEADBEEF, sequence=9).to_bytes()
    reader.register(v1)
    obj = to_json(reader.decode(frame))
    assert obj["header"]["version"] == 2 and obj["unseen"] == "0xefbeadde"
    assert _strict_round_trip(obj, reader) == frame
    own = to_json(reader.decode(reader.message_class(231, 1)(a=1).to_bytes()))
    with pytest.raises(ap.FieldValueError, match="unknown field 'unseen'"):
        from_json(dict(own, unseen="0x00"), reader)


def test_6_announcements_carry_canonical_json_only():
    schema = ap.Schema(message_type=232, version=1, name="Canon", fields=[("a", "u8", 1)],
                       doc="caf\u00e9 \U0001F600")
    text = schema.to_json()
    assert ap.SchemaAnnouncement.encode(schema_type=232, schema_version=1, spec=text)
    spaced = text.replace(",", ", ", 1)
    at = spaced.index(", ") + 1
    for bad, reason in [(spaced, f"at character {at}, expected '\"fields\""),
                        (json.dumps(schema.to_dict()), "at character 2, expected 'doc\""),
                        (json.dumps(schema.to_dict(), sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False), "expected '\\\\u00e9"),
                        ('{"a":1.0}', "1.0 is not an integer"),
                        ('{"a":1,"a":1}', "repeats a key")]:
        with pytest.raises(ap.FieldValueError) as error:
            ap.SchemaAnnouncement.encode(schema_type=232, schema_version=1, spec=bad)
        assert str(error.value).startswith("SchemaAnnouncement.spec: not canonical JSON")
        assert reason in str(error.value), str(error.value)


def test_7_the_spec_names_exactly_the_types_without_tlv():
    section = PROTOCOL[PROTOCOL.index("## 8. JSON mapping"):PROTOCOL.index("## 9.")]
    stated = re.search(r"It is absent on (.*?) \(their tails", section, re.S)
    assert stated is not None
    named = set(re.findall(r"[A-Z][A-Za-z]+", stated.group(1)))
    assert named == {m.name for m in MESSAGES.values() if not m.carries_tlv}
    for layout in MESSAGES.values():
        obj = to_json(zeroed(ap.MESSAGE_CLASSES[layout.message_type]))
        assert ("tlv" in obj) == layout.carries_tlv


def test_8_reserved_flag_bits_and_unknown_sources_pass_through():
    notes = {f.name: f.doc for f in HEADER.fields}
    assert "no bits defined" in notes["flags"] and "passed through" in notes["flags"]
    assert "| 7 | 1 | `flags` | u8 |  | no bits defined: written 0, passed through |" in PROTOCOL
    assert "`flags` (7): version 1 defines **no bits**" in PROTOCOL
    frame = zeroed_frame(ap.Trade, instrument_id=AAPL, sequence=1, source=255, flags=0x5A, header_flags=0xA5)
    message = ap.decode(frame)
    assert (message.header.flags, message.header.source, message.flags) == (0xA5, 255, 0x5A)
    assert _strict_round_trip(to_json(message)) == frame


FIX_150 = {"New": "0", "DoneForDay": "3", "Canceled": "4", "Replaced": "5", "PendingCancel": "6",
           "Stopped": "7", "Rejected": "8", "Suspended": "9", "PendingNew": "A", "Calculated": "B",
           "Expired": "C", "Restated": "D", "PendingReplace": "E", "Trade": "F",
           "TradeCorrect": "G", "TradeCancel": "H", "OrderStatus": "I"}


def test_9_exec_type_follows_fix_tag_150():
    assert {e.name: e.value for e in ap.ExecType} == {k: int(v, 36) for k, v in FIX_150.items()}
    assert ap.ExecType.OrderStatus == 18
    for enum in (ap.OrdStatus, ap.TimeInForce, ap.OrderType):
        assert all(0 <= e.value <= 35 for e in enum)
    assert "`'I'` (Order Status) 18" in PROTOCOL
