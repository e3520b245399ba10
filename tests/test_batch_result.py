"""BatchResult as a user holds it: types by name or number, empty arrays for types the input
did not hold, iteration, one file per write; iter_batches yields only results that hold
something."""
from __future__ import annotations

import io

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch, iter_batches

AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


def _capture() -> bytes:
    trades = [ap.Trade.encode(instrument_id=AAPL, price=100 + i, volume=1, side=ap.Side.Buy,
                              sequence=i) for i in range(3)]
    quote = ap.Quote.encode(instrument_id=AAPL, bid_price=1, ask_price=2, bid_size=3,
                            ask_size=4, sequence=9)
    return trades[0] + quote + trades[1] + trades[2]


@pytest.fixture
def result():
    return decode_batch(_capture())


def test_a_type_is_taken_by_member_number_or_name(result):
    rows = result[ap.MessageType.Trade]
    assert rows["price"].tolist() == [100, 101, 102]
    for key in ("Trade", "trade", "TRADE", 1, np.uint8(1)):
        assert result[key].tobytes() == rows.tobytes()
        assert result.offsets(key).tolist() == result.offsets(ap.MessageType.Trade).tolist()
    assert result.message("Trade", 1).price == 101
    assert result.frame("Quote", 0) == _capture()[64:144]
    assert result["Trade", 1].tobytes() == rows.tobytes()
    assert "Trade" in result and 2 in result and "Fill" not in result and "Nothing" not in result


def test_a_known_type_without_frames_is_an_empty_array_of_its_dtype(result):
    for key in ("Fill", ap.MessageType.Fill, 42, ("Fill", 1)):
        rows = result[key]
        assert rows.dtype == ap.dtype(ap.MessageType.Fill) and len(rows) == 0
    assert result.offsets("Fill").dtype == np.dtype("<i8") and len(result.offsets("Fill")) == 0
    assert result.versions("Fill") == []
    with pytest.raises(IndexError, match="row 0 out of range for 0 Fill rows"):
        result.message("Fill", 0)


def test_an_unknown_type_is_a_key_error_naming_the_known_ones(result):
    with pytest.raises(KeyError, match=r"no message type is named 'Trades' \(known: .*\bQuote\b.*\bTrade\b"):
        result["Trades"]
    with pytest.raises(KeyError, match=r"no message type 99 is known \(known: .*\bTrade\b"):
        result[99]
    with pytest.raises(KeyError, match="Trade has no version 2"):
        result["Trade", 2]
    with pytest.raises(KeyError, match="a message type is a MessageType, a number or a name"):
        result[1.0]


def test_iterating_gives_each_present_type_and_its_rows(result):
    pairs = list(result)
    assert [t for t, _ in pairs] == [ap.MessageType.Trade, ap.MessageType.Quote]
    assert all(rows.tobytes() == result[t].tobytes() for t, rows in pairs)
    assert dict(result)[ap.MessageType.Quote]["bid_size"].tolist() == [3]
    assert len(result) == 4


def test_write_makes_one_file_per_call(result, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    with pytest.raises(ValueError, match="holds Trade, Quote: pass types="):
        result.write(tmp_path / "all.parquet")
    path = result.write(tmp_path / "trades.parquet", types=["Trade"], prices="raw")
    assert path == tmp_path / "trades.parquet"
    assert pq.read_table(path).column("price").to_pylist() == [100, 101, 102]
    empty = pq.read_table(result.write(tmp_path / "fills.parquet", types=[ap.MessageType.Fill]))
    assert empty.num_rows == 0 and "last_price" in empty.column_names
    with np.load(result.write(tmp_path / "some.npz", types=["Quote", "Fill"])) as arrays:
        assert arrays["Quote"]["bid_size"].tolist() == [3] and len(arrays["Fill"]) == 0
        assert "Trade" not in arrays
    single = decode_batch(_capture()[:64])
    assert single.write(tmp_path / "one.csv").name == "one.csv"  # one type: no choice to make
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fills.parquet", "one.csv", "some.npz", "trades.parquet"]


def test_iter_batches_yields_no_empty_result():
    capture = _capture() * 200
    for chunk_bytes in (4096, 8192, 1 << 20):
        chunks = list(iter_batches(io.BytesIO(capture), chunk_bytes=chunk_bytes))
        assert chunks and all(len(chunk) for chunk in chunks)
        assert sum(len(chunk) for chunk in chunks) == 800
    assert list(iter_batches(io.BytesIO(b""))) == []
    damaged = list(iter_batches(io.BytesIO(b"\0" * 100)))
    assert damaged and all(chunk.errors and not len(chunk) for chunk in damaged)
    assert sum(stretch.length for chunk in damaged for stretch in chunk.errors) == 100


def test_the_repr_counts_rows_per_type_and_the_errors():
    assert repr(decode_batch(b"")) == "BatchResult(errors=0)"
    assert repr(decode_batch(b"\x00" * 40)) == "BatchResult(errors=1)"
    trade = ap.Trade(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"), price=1,
                     volume=1, side=1).to_bytes()
    assert repr(decode_batch(trade * 2)) == "BatchResult(Trade=2, errors=0)"
