"""Capture statistics: counts, time span, gaps and duplicates per source, bad stretches."""
from __future__ import annotations

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch, iter_batches
from alphapulse_codec.capture.stats import capture_stats
from frames import zeroed_frame


def _capture() -> bytes:
    frames = []
    for sequence in [1, 2, 3, 5, 6, 6, 7, 10, 4]:  # gap 3->5, duplicate 6, gap 7->10, replay 4
        frames.append(zeroed_frame(ap.Trade, sequence=sequence, source=1, timestamp=1_000_000_000 * sequence))
    for sequence in range(1, 4):
        frames.append(zeroed_frame(ap.Quote, sequence=sequence, source=2, timestamp=2_000_000_000))
    frames.insert(4, b"garbage!")
    return b"".join(frames)


def test_counts_span_gaps_and_duplicates():
    stats = capture_stats([decode_batch(_capture())])
    assert stats.frames == 12 and stats.per_type == {ap.MessageType.Trade: 9, ap.MessageType.Quote: 3}
    assert stats.span_seconds == 9.0
    assert stats.rate(ap.MessageType.Trade) == 1.0
    trades = stats.per_source[1]
    assert (trades.frames, trades.gaps, trades.missing, trades.duplicates) == (9, 2, 3, 2)
    quotes = stats.per_source[2]
    assert (quotes.gaps, quotes.duplicates) == (0, 0)
    assert len(stats.errors) == 1 and stats.errors[0].length == 8


def test_chunked_statistics_equal_whole(tmp_path):
    frames = [zeroed_frame(ap.Trade, sequence=s, source=7, timestamp=s) for s in range(1, 40000)
              if s % 1000]  # every 1000th missing
    path = tmp_path / "capture.bin"
    path.write_bytes(b"".join(frames))
    whole = capture_stats([decode_batch(path)])
    chunked = capture_stats(iter_batches(path, chunk_bytes=(1 << 20) + 7))
    assert whole.per_source == chunked.per_source
    assert sum(s.missing for s in whole.per_source.values()) == 39
