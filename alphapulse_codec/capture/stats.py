"""Statistics of a capture, gathered chunk by chunk in memory that does not grow with it.

Per source, frames are taken in capture order and compared with the highest sequence seen
before them: one more is in order, more than one more is a gap (the numbers skipped are
counted as missing), and not more is a duplicate or replay.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .batch import BadStretch, BatchResult


@dataclass
class SourceStats:
    frames: int = 0
    gaps: int = 0
    missing: int = 0
    duplicates: int = 0
    highest_sequence: int | None = None


@dataclass
class CaptureStats:
    frames: int = 0
    bytes: int = 0
    per_type: Counter[int] = field(default_factory=Counter)
    per_source: dict[int, SourceStats] = field(default_factory=dict)
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    errors: list[BadStretch] = field(default_factory=list)
    refused_schemas: list[str] = field(default_factory=list)

    @property
    def span_seconds(self) -> float:
        if self.first_timestamp is None or self.last_timestamp is None:
            return 0.0
        return (self.last_timestamp - self.first_timestamp) / 1e9

    def rate(self, message_type: int) -> float:
        """Frames per second of `message_type` over the capture's time span."""
        span = self.span_seconds
        return self.per_type[message_type] / span if span > 0 else 0.0

    def add(self, result: BatchResult) -> None:
        """Fold in the next chunk's result, which follows the previous ones in the capture."""
        self.errors += result.errors
        self.refused_schemas += result.refused_schemas
        offsets, sources, sequences, timestamps = [], [], [], []
        for message_type in result.types:
            rows = result[message_type]
            self.per_type[message_type] += len(rows)
            self.frames += len(rows)
            self.bytes += int(rows["header"]["payload_size"].sum()) + 32 * len(rows)
            offsets.append(result.offsets(message_type))
            sources.append(rows["header"]["source"])
            sequences.append(rows["header"]["sequence"])
            timestamps.append(rows["header"]["timestamp"])
        if not offsets:
            return
        order = np.argsort(np.concatenate(offsets), kind="stable")
        source = np.concatenate(sources)[order]
        sequence = np.concatenate(sequences)[order]
        stamp = np.concatenate(timestamps)
        low, high = int(stamp.min()), int(stamp.max())
        self.first_timestamp = low if self.first_timestamp is None else min(self.first_timestamp, low)
        self.last_timestamp = high if self.last_timestamp is None else max(self.last_timestamp, high)
        for number in np.unique(source):
            self._add_source(int(number), sequence[source == number])

    def _add_source(self, number: int, sequence: np.ndarray) -> None:
        stats = self.per_source.setdefault(number, SourceStats())
        stats.frames += len(sequence)
        values = sequence.astype(object) if sequence.max() >= 2**63 else sequence.astype(np.int64)
        start = 0
        if stats.highest_sequence is None:
            stats.highest_sequence, start = int(values[0]), 1
        previous = np.maximum.accumulate(np.concatenate([[stats.highest_sequence], values[start:]]))
        step = values[start:] - previous[:-1]
        stats.gaps += int((step > 1).sum())
        stats.missing += int((step[step > 1] - 1).sum())
        stats.duplicates += int((step <= 0).sum())
        stats.highest_sequence = int(previous[-1])


def capture_stats(results: Iterable[BatchResult]) -> CaptureStats:
    """Statistics of the chunks of one capture, taken in order."""
    stats = CaptureStats()
    for result in results:
        stats.add(result)
    return stats
