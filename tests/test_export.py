"""Exports keep every value exact, in every format."""
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
    frame = result.to_pandas(ap.MessageType.DeFiSignal)
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
    path = result.write(tmp_path / "signals.parquet")
    for table in (pq.read_table(path), feather.read_table(result.write(tmp_path / "s.arrow"))):
        assert table.column("signal_id").to_pylist() == [2**64 - 1, 1]
        assert [int(v) for v in table.column("expected_profit_q").to_pylist()] == [-(2**127), 2**127 - 1]
        assert table.column("base_token_addr").to_pylist()[0] == b"\xff" * 20


def test_csv_keeps_exact_values(result, tmp_path):
    path = result.write(tmp_path / "signals.csv")
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
        assert result.write(tmp_path / f"{t.name}.csv", types=[t]) == tmp_path / f"{t.name}.csv"
    assert {p.name for p in tmp_path.iterdir()} == {f"{t.name}.csv" for t in result.types}


def test_unknown_format(result, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'xls'"):
        result.write(tmp_path / "out.xls")
