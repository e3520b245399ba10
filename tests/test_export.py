"""Exports: readable tables by default, every value exact with raw=True, in every format."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from frames import zeroed_frame

EXTREMES = [
    zeroed_frame(ap.DeFiSignal, signal_id=2**64 - 1, expected_profit_q=-(2**127), amount_in_q=2**128 - 1,
                         base_token_addr=b"\xff" * 20, tlv=[ap.RawTLV(7, b"abc")], sequence=1),
    zeroed_frame(ap.DeFiSignal, signal_id=1, expected_profit_q=2**127 - 1, sequence=2),
]


@pytest.fixture
def result():
    return decode_batch(b"".join(EXTREMES))


def test_pandas_keeps_exact_values(result):
    frame = result.to_pandas(ap.MessageType.DeFiSignal, raw=True)
    assert frame["signal_id"].tolist() == [2**64 - 1, 1]
    assert frame["expected_profit_q"].tolist() == [-(2**127), 2**127 - 1]
    assert frame["amount_in_q"].tolist() == [2**128 - 1, 0]
    assert frame["base_token_addr"][0] == b"\xff" * 20
    assert frame["tail"].tolist() == [ap.RawTLV(7, b"abc").to_bytes(), b""]
    assert frame["offset"].tolist() == [0, len(EXTREMES[0])]
    assert frame["header.sequence"].tolist() == [1, 2]


def test_parquet_and_arrow_keep_exact_values(result, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    feather = pytest.importorskip("pyarrow.feather")
    path = result.write(tmp_path / "signals.parquet", raw=True)
    arrow = result.write(tmp_path / "s.arrow", raw=True)
    for table in (pq.read_table(path), feather.read_table(arrow)):
        assert table.column("signal_id").to_pylist() == [2**64 - 1, 1]
        assert [int(v) for v in table.column("expected_profit_q").to_pylist()] == [-(2**127), 2**127 - 1]
        assert table.column("base_token_addr").to_pylist()[0] == b"\xff" * 20


def test_csv_keeps_exact_values(result, tmp_path):
    path = result.write(tmp_path / "signals.csv", raw=True)
    rows = list(csv.DictReader(open(path)))
    assert [int(r["signal_id"]) for r in rows] == [2**64 - 1, 1]
    assert [int(r["amount_in_q"]) for r in rows] == [2**128 - 1, 0]
    assert rows[0]["base_token_addr"] == "0x" + "ff" * 20
    assert rows[0]["tail"] == "0x" + ap.RawTLV(7, b"abc").to_bytes().hex()


def test_npz_is_lossless(result, tmp_path):
    path = result.write(tmp_path / "signals.npz")
    stored = np.load(path)
    assert stored["DeFiSignal"].tobytes() == result[ap.MessageType.DeFiSignal].tobytes()
    assert stored["DeFiSignal.tail"].tobytes() == ap.RawTLV(7, b"abc").to_bytes()
    assert stored["DeFiSignal.tail_length"].tolist() == [5, 0]


def test_jsonl_is_the_json_mapping_in_capture_order(vector_bytes, vector_objects, tmp_path):
    path = decode_batch(vector_bytes).write(tmp_path / "all.jsonl")
    lines = [json.loads(line) for line in open(path)]
    assert [line["header"] for line in lines] == [obj["header"] for obj in vector_objects]


def test_a_one_table_format_takes_one_type_per_file(vector_bytes, tmp_path):
    result = decode_batch(vector_bytes)
    with pytest.raises(ValueError, match=r"a \.csv file holds one message type and this result"
                       r" holds Trade, .*: pass types=\[\.\.\.\] naming one"):
        result.write(tmp_path / "capture.csv")
    with pytest.raises(ValueError, match=r"got types=\['Trade', 'Quote'\]: write each"):
        result.write(tmp_path / "capture.csv", types=["Trade", "Quote"])
    assert list(tmp_path.iterdir()) == []
    for t in result.types:
        path = tmp_path / f"{t.name}.csv"
        assert result.write(path, types=[t], raw=True) == path
    assert {p.name for p in tmp_path.iterdir()} == {f"{t.name}.csv" for t in result.types}


def test_a_streamed_capture_of_several_types_goes_to_one_file_each(vector_bytes, tmp_path):
    from alphapulse_codec.capture.export import write_batches
    from alphapulse_codec.capture.tables import UnreadableValueWarning

    with pytest.warns(UnreadableValueWarning, match="expires_at"):  # random u64s in the vectors
        written = write_batches([decode_batch(vector_bytes)], tmp_path / "capture.csv")
    assert {p.name for p in written} == {f"capture.{t.name}.csv" for t in decode_batch(vector_bytes).types}


def test_unknown_format(result, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'xls'"):
        result.write(tmp_path / "out.xls")


# ---------------------------------------------------------------- readable by default

AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
ETH = ap.InstrumentId.crypto(ap.VenueId.Binance, "ETH", "USDT")
T0 = 1_700_000_000_123_456_789


# the body of a trade, for tests about its header
A_TRADE = dict(instrument_id=AAPL, price=18_925_000_000, volume=100, side=ap.Side.Buy)


def _trades() -> bytes:
    return b"".join(
        ap.Trade.encode(instrument_id=iid, price=price, volume=volume, side=side, sequence=n,
                        timestamp=T0 + n, source=ap.SourceType.AlpacaCollector)
        for n, (iid, price, volume, side) in enumerate([
            (AAPL, 18_925_000_000, 100, ap.Side.Buy),
            (ETH, 312_550_000_000, 2, ap.Side.Sell),
            (AAPL, 18_930_000_000, 50, 9),  # a side no member names
        ]))


def test_to_pandas_is_readable_by_default():
    frame = decode_batch(_trades()).to_pandas(ap.MessageType.Trade)
    assert list(frame.columns) == ["timestamp", "sequence", "source", "instrument_id",
                                   "instrument_id_key", "price", "volume", "side", "flags"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["timestamp"][0].value == T0  # to the nanosecond
    assert frame["price"].tolist() == [189.25, 3125.5, 189.3]
    assert str(frame["side"].dtype) == "category" and frame["side"].tolist() == ["Buy", "Sell", "9"]
    assert frame["source"].tolist() == ["AlpacaCollector"] * 3
    assert frame["instrument_id"].tolist() == ["NASDAQ Stock: AAPL", "Binance CryptoSpot: ETH/USDT",
                                               "NASDAQ Stock: AAPL"]
    assert [ap.InstrumentId.from_key(k) for k in frame["instrument_id_key"]] == [AAPL, ETH, AAPL]


def test_raw_keeps_the_exact_layout():
    frame = decode_batch(_trades()).to_pandas(ap.MessageType.Trade, raw=True)
    assert list(frame.columns) == [
        "header.magic", "header.message_type", "header.version", "header.source", "header.flags",
        "header.payload_size", "header.sequence", "header.timestamp", "header.checksum",
        "instrument_id.venue", "instrument_id.asset_type", "instrument_id.reserved",
        "instrument_id.asset_id", "price", "volume", "side", "flags", "offset", "tail"]
    assert frame["price"].tolist() == [18_925_000_000, 312_550_000_000, 18_930_000_000]


def test_internals_on_request():
    table = decode_batch(_trades()).to_arrow(ap.MessageType.Trade, internals=True)
    for name in ("header.magic", "header.checksum", "header.payload_size", "offset", "tail"):
        assert name in table.column_names
    assert table.column("header.magic").to_pylist() == [0xDEADBEEF] * 3


def test_prices_as_decimals_or_raw_integers():
    from decimal import Decimal

    result = decode_batch(_trades())
    assert result.to_pandas(ap.MessageType.Trade, prices="decimal")["price"].tolist() == [
        Decimal("189.25"), Decimal("3125.5"), Decimal("189.3")]
    assert result.to_pandas(ap.MessageType.Trade, prices="raw")["price"].tolist() == [
        18_925_000_000, 312_550_000_000, 18_930_000_000]
    with pytest.raises(ValueError, match="prices='cents'"):
        result.to_pandas(ap.MessageType.Trade, prices="cents")


def test_arrow_types_are_readable():
    pa = pytest.importorskip("pyarrow")
    table = decode_batch(_trades()).to_arrow(ap.MessageType.Trade)
    assert table.schema.field("timestamp").type == pa.timestamp("ns", "UTC")
    assert pa.types.is_dictionary(table.schema.field("side").type)
    assert pa.types.is_dictionary(table.schema.field("instrument_id").type)
    assert table.schema.field("price").type == pa.float64()
    assert table.schema.field("instrument_id_key").type == pa.decimal128(29, 0)
    assert int(table.column("instrument_id_key")[0].as_py()) == AAPL.key


def test_negative_and_extreme_prices_as_decimals():
    from decimal import Decimal

    frames = b"".join(ap.PositionUpdate.encode(instrument_id=AAPL, portfolio_id=1, quantity=1,
                                              avg_entry_price=p, unrealized_pnl=0,
                                              mark_price=p, realized_pnl=-1, sequence=1)
                      for p in (2**63 - 1, -(2**63), 1))
    frame = decode_batch(frames).to_pandas(ap.MessageType.PositionUpdate, prices="decimal")
    assert frame["mark_price"].tolist() == [Decimal(2**63 - 1) / 10**8, Decimal(-(2**63)) / 10**8,
                                            Decimal("0.00000001")]
    assert frame["realized_pnl"].tolist()[2] == Decimal("-0.00000001")


def test_q64_and_128_bit_fields(result):
    frame = result.to_pandas(ap.MessageType.DeFiSignal)
    assert frame["expected_profit_q"].tolist() == [-(2**63), (2**127 - 1) / 2**64]
    exact = result.to_pandas(ap.MessageType.DeFiSignal, prices="decimal")
    assert [int(v) for v in exact["amount_in_q"]] == [2**128 - 1, 0]
    assert [int(v) for v in exact["expected_profit_q"]] == [-(2**127), 2**127 - 1]
    assert frame["base_token_addr"][0] == b"\xff" * 20


def test_instruments_are_named_from_the_cache_one_call_per_instrument(monkeypatch):
    from alphapulse_codec.capture import tables

    cache = ap.ObjectCache()
    cache.process_message(ap.InstrumentDiscovered.encode(instrument_id=AAPL, decimals=0,
                                                         symbol="Apple Inc.", sequence=1))
    calls = []

    class Counted:
        @staticmethod
        def from_bytes(raw):
            calls.append(raw)
            return ap.InstrumentId.from_bytes(raw)

    monkeypatch.setattr(tables, "InstrumentId", Counted)
    many = _trades() * 50
    frame = decode_batch(many).to_pandas(ap.MessageType.Trade, cache=cache)
    assert len(frame) == 150 and len(calls) == 2  # per distinct instrument, not per row
    assert frame["instrument_id"][0] == "NASDAQ Stock: AAPL (Apple Inc.)"


def test_variable_tails_are_readable_fields():
    book = ap.OrderBook.encode(instrument_id=AAPL, bids=[ap.BookLevel(18_925_000_000, 100)],
                               asks=[ap.BookLevel(18_930_000_000, 5), ap.BookLevel(18_935_000_000, 7)],
                               venue_timestamp=T0, update_kind=ap.BookUpdateKind.Snapshot,
                               sequence=1)
    found = ap.InstrumentDiscovered.encode(instrument_id=ETH, decimals=8, symbol="ETH/USDT",
                                           metadata=b"\x01\x02", sequence=2)
    result = decode_batch(book + book + found)
    books = result.to_pandas(ap.MessageType.OrderBook)
    assert books["asks"][1].tolist() == [{"price": 189.3, "size": 5}, {"price": 189.35, "size": 7}]
    assert "bid_count" not in books.columns
    discovered = result.to_pandas(ap.MessageType.InstrumentDiscovered)
    assert discovered["symbol"].tolist() == ["ETH/USDT"]
    assert discovered["metadata"].tolist() == [b"\x01\x02"]


def test_every_readable_format_writes(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    feather = pytest.importorskip("pyarrow.feather")
    result = decode_batch(_trades())
    parquet = result.write(tmp_path / "t.parquet")
    assert pq.read_table(parquet).to_pandas()["side"].tolist() == ["Buy", "Sell", "9"]
    arrow = result.write(tmp_path / "t.arrow")
    assert feather.read_table(arrow).column("instrument_id").to_pylist()[1] == \
        "Binance CryptoSpot: ETH/USDT"
    text = result.write(tmp_path / "t.csv")
    rows = list(csv.DictReader(open(text)))
    assert rows[0]["price"] == "189.25" and rows[0]["side"] == "Buy"
    assert rows[0]["timestamp"].startswith("2023-11-14 22:13:20.123456789")


def test_csv_writes_bytes_as_hex(result, tmp_path):
    path = result.write(tmp_path / "signals.csv")
    rows = list(csv.DictReader(open(path)))
    assert rows[0]["base_token_addr"] == "0x" + "ff" * 20


def test_write_names_instruments_by_the_discoveries_in_the_capture(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    found = ap.InstrumentDiscovered.encode(instrument_id=AAPL, decimals=0, symbol="Apple",
                                           sequence=0)
    written = decode_batch(found + _trades()).write(tmp_path / "c.parquet", types=["Trade"])
    trades = pq.read_table(written).column("instrument_id").to_pylist()
    assert trades[0] == "NASDAQ Stock: AAPL (Apple)"


def test_a_timestamp_past_2262_is_null_with_a_warning():
    from alphapulse_codec.capture.tables import UnreadableValueWarning

    result = decode_batch(ap.Trade.encode(**A_TRADE, sequence=1, timestamp=T0) * 2
                          + ap.Trade.encode(**A_TRADE, sequence=3, timestamp=2**63))
    with pytest.warns(UnreadableValueWarning, match=r"timestamp: 1 value\(s\) past 2262-04-11.*"
                      r"9223372036854775808, in the frame at byte 128.*raw=True"):
        frame = result.to_pandas(ap.MessageType.Trade)
    assert frame["timestamp"].isna().tolist() == [False, False, True]
    assert frame["sequence"].tolist() == [1, 1, 3]
    assert result.to_pandas(ap.MessageType.Trade, raw=True)["header.timestamp"][2] == 2**63


def test_decode_to_notes_unreadable_values_and_exits_1(tmp_path, capsys):
    from alphapulse_codec.cli import main

    capture = tmp_path / "late.bin"
    capture.write_bytes(ap.Trade.encode(**A_TRADE, sequence=1, timestamp=2**63))
    assert main(["decode", str(capture), "--to", str(tmp_path / "late.parquet")]) == 1
    err = capsys.readouterr().err
    assert "alphapulse: timestamp: 1 value(s) past 2262-04-11" in err and "Traceback" not in err
    assert (tmp_path / "late.parquet").exists()
