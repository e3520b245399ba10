"""Large captures for the batch benchmarks: 64-byte Trades alone, and the mixed synthetic
session that `alphapulse generate` writes."""
from __future__ import annotations

import numpy as np

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import encode_batch
from alphapulse_codec.samples.synthetic import generate


def _rows(message_type: ap.MessageType, count: int, rng: np.random.Generator) -> np.ndarray:
    rows = np.zeros(count, dtype=ap.dtype(message_type))
    rows["header"]["sequence"] = np.arange(count)
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000 + np.arange(count) * 1000
    rows["header"]["source"] = ap.SourceType.BinanceCollector
    return rows


def trades(count: int, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    rows = _rows(ap.MessageType.Trade, count, rng)
    rows["instrument_id"]["venue"] = ap.VenueId.Binance
    rows["instrument_id"]["asset_type"] = ap.AssetType.CryptoSpot
    rows["instrument_id"]["asset_id"] = rng.integers(1, 50, count)
    rows["price"] = 6_000_000_000_000 + np.cumsum(rng.integers(-1000, 1001, count))
    rows["volume"] = rng.integers(1, 10**8, count)
    rows["side"] = rng.integers(1, 3, count)
    return encode_batch(rows)


def mixed(total_bytes: int, seed: int = 4) -> bytes:
    """The synthetic session of `alphapulse generate`, about total_bytes long."""
    return generate(max(1, total_bytes // 72), seed=seed)
