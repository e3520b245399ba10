"""Large synthetic captures for the batch benchmarks, built with batch encode."""
from __future__ import annotations

import numpy as np

import alphapulse_codec as ap
from alphapulse_codec.batch import encode_batch


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


def quotes(count: int, seed: int = 2) -> bytes:
    rng = np.random.default_rng(seed)
    rows = _rows(ap.MessageType.Quote, count, rng)
    mid = 6_000_000_000_000 + np.cumsum(rng.integers(-1000, 1001, count))
    rows["bid_price"], rows["ask_price"] = mid - 50, mid + 50
    rows["bid_size"] = rows["ask_size"] = rng.integers(1, 10**8, count)
    return encode_batch(rows)


def signals(count: int, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    rows = _rows(ap.MessageType.DeFiSignal, count, rng)
    rows["signal_id"] = np.arange(count)
    rows["chain_id"] = 1
    return encode_batch(rows)


def mixed(total_bytes: int, seed: int = 4) -> bytes:
    """Trades, quotes and DeFi signals interleaved in blocks, about total_bytes long."""
    block = [trades(7000, seed), quotes(2500, seed + 1), signals(500, seed + 2)]
    one = b"".join(block)
    return one * max(1, total_bytes // len(one))
