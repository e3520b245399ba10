"""The worked example of docs/protocol.md decodes to the values the text states."""
from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import alphapulse_codec as ap

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()


def test_worked_example_frame():
    block = re.search(r"is the 64-byte frame\n\n```\n(.*?)```", DOC, re.S).group(1)
    frame = bytes.fromhex(block.replace(" ", "").replace("\n", ""))
    trade = ap.decode(frame)
    assert isinstance(trade, ap.Trade)
    assert trade.instrument_id == ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    assert (trade.price, trade.volume, trade.side) == (18925000000, 100, ap.Side.Buy)
    assert (trade.header.sequence, trade.header.timestamp) == (42, 1700000000123456789)
    assert trade.header.source == ap.SourceType.AlpacaCollector == 5
    assert trade.header.checksum == 0xF4518FAA == zlib.crc32(frame[32:], zlib.crc32(frame[:28]))
    assert "0x4141504C00000000" in DOC
    assert ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL").asset_id == 0x4141504C00000000


def test_the_schema_example_is_the_sample_session_schema():
    block = re.search(r"make a schema file \(JSON or YAML\):\n\n```json\n(.*?)```", DOC, re.S).group(1)
    from alphapulse_codec.samples.session import MOMENTUM_SIGNAL

    assert block.strip() == MOMENTUM_SIGNAL.to_json()
    assert ap.Registry().register(ap.Schema.from_dict(json.loads(block))).layout.body_size == 24
