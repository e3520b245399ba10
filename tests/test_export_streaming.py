"""``decode --to`` streams: a capture many chunks long goes to Parquet in bounded memory.

Each run is its own process, whose peak resident memory (VmHWM) is compared between a capture
and one 8 times larger, both read in chunks far smaller than either.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import alphapulse_codec as ap

pq = pytest.importorskip("pyarrow.parquet")
if not Path("/proc/self/status").exists():
    pytest.skip("peak memory is read from /proc/self/status", allow_module_level=True)

CHUNK = 1 << 20
SMALL_FRAMES = 1 << 16  # 4 MiB of 64-byte trades
LARGE_FRAMES = 8 * SMALL_FRAMES  # 32 MiB

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report the test
# process's own size
PEAK = """
import sys
from alphapulse_codec.cli import main
code = main(["decode", sys.argv[1], "--to", sys.argv[2], "--chunk-bytes", sys.argv[3]])
status = open("/proc/self/status").read()
print(code, status.split("VmHWM:")[1].split()[0])
"""


def _capture(path: Path, frames: int) -> None:
    rows = np.zeros(frames, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["sequence"] = np.arange(frames)
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000 + np.arange(frames) * 1000
    rows["header"]["source"] = ap.SourceType.BinanceCollector
    ids = [ap.InstrumentId.crypto(ap.VenueId.Binance, base, "USDT") for base in ("BTC", "ETH", "SOL")]
    for field in ("venue", "asset_type", "reserved", "asset_id"):
        rows["instrument_id"][field] = np.array([getattr(i, field) for i in ids])[np.arange(frames) % 3]
    rows["price"] = 10_000_000_000 + np.arange(frames) % 977
    rows["volume"] = 1 + np.arange(frames) % 13
    rows["side"] = 1 + np.arange(frames) % 2
    with open(path, "wb") as out:
        for start in range(0, frames, 1 << 16):
            out.write(ap.encode_batch(rows[start:start + (1 << 16)]))


def _peak_kib(capture: Path, out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK, str(capture), str(out), str(CHUNK)],
                          capture_output=True, text=True, timeout=600)
    code, peak = done.stdout.split()
    assert int(code) == 0, done.stderr
    return int(peak)


def test_decode_to_parquet_runs_in_bounded_memory(tmp_path):
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    _capture(small, SMALL_FRAMES)
    _capture(large, LARGE_FRAMES)
    small_peak = _peak_kib(small, tmp_path / "small.parquet")
    large_peak = _peak_kib(large, tmp_path / "large.parquet")
    table = pq.read_table(tmp_path / "large.parquet")
    assert table.num_rows == LARGE_FRAMES
    assert table.column("instrument_id").to_pylist()[:3] == [
        "Binance CryptoSpot: BTC/USDT", "Binance CryptoSpot: ETH/USDT", "Binance CryptoSpot: SOL/USDT"]
    assert table.column("sequence")[-1].as_py() == LARGE_FRAMES - 1
    grown_kib = large_peak - small_peak
    # the capture grew by 28 MiB; whole-capture decoding holds its rows and its table at once
    print(json.dumps({"small_peak_kib": small_peak, "large_peak_kib": large_peak}))
    assert grown_kib < 16 * 1024, (small_peak, large_peak)
