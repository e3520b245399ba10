"""What the transport benchmarks carry and what they read of a process: blocks of 64-byte
Trades (sequences from 1, one source), and the CPU time a process has used."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import alphapulse_codec as ap


def trade_block(count: int) -> bytes:
    """``count`` sealed 64-byte Trades back to back, sequences 1 to ``count``."""
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = ap.SourceType.BinanceCollector
    rows["header"]["sequence"] = np.arange(1, count + 1)
    rows["instrument_id"]["venue"] = ap.VenueId.NASDAQ
    rows["instrument_id"]["asset_type"] = ap.AssetType.Stock
    rows["price"] = 189_250_000
    rows["volume"] = 100
    rows["side"] = 1
    return ap.encode_batch(rows)


def cpu_seconds(pid: int) -> float:
    """User + system seconds of process ``pid`` so far, from /proc (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
