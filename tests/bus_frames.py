"""Frames for the transport tests (the buses', the ring's): Trades and Quotes of chosen sources and
sequences, and a buffer split back into frames to compare byte for byte."""
from __future__ import annotations

import numpy as np

import alphapulse_codec as ap

GUARD = 20.0  # seconds: only a hang guard on a receive


def trades(count: int, source: int = 5, first: int = 1) -> bytes:
    """`count` sealed Trades of `source`, sequences first..first+count-1 (64 bytes each)."""
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = source
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000
    rows["instrument_id"]["venue"] = int(ap.VenueId.NASDAQ)
    rows["instrument_id"]["asset_type"] = int(ap.AssetType.Stock)
    rows["price"] = np.arange(first, first + count) * 1000
    rows["volume"] = 7
    rows["side"] = int(ap.Side.Buy)
    return ap.encode_batch(rows, ap.MessageType.Trade)


def quote(sequence: int, source: int = 5) -> bytes:
    return ap.Quote(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                    bid_price=1, ask_price=2, bid_size=3, ask_size=4, sequence=sequence,
                    timestamp=1, source=source).to_bytes()


def split(buffer: bytes | bytearray) -> list[bytes]:
    frames, offset = [], 0
    while offset < len(buffer):
        size = 32 + int.from_bytes(buffer[offset + 8:offset + 12], "little")
        frames.append(bytes(buffer[offset:offset + size]))
        offset += size
    return frames


def receive(consumer, frames: int, max_frames: int = 65536) -> bytes:
    """Exactly `frames` frames' bytes from `consumer` (fewer when the guard runs out)."""
    got = bytearray()
    while len(split(got)) < frames:
        data = consumer.recv_bytes(max_frames=max_frames, timeout=GUARD)
        if not data:
            break
        got += data
    return bytes(got)
