"""Run-time schemas against built-in types of the same size, in one process.

    python benchmarks/registry.py [--repeat N] [--frames N]

A run-time schema of 8 fields with a 32-byte body is compared with the built-in Trade (32-byte
body): single-frame decode, decode plus reading every field, and batch decode; the registry
lookup of the C decode path is timed on its own. Each figure is the median of N runs.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import captures  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.capture.batch import decode_batch, encode_batch  # noqa: E402

SIGNAL = ap.Schema(
    message_type=230, version=1, name="BenchSignal",
    fields=[("instrument_id", "instrument_id"), ("price", "i64"), ("volume", "u32"),
            ("venue", "u16"), ("strategy", "u16"), ("side", "u8"), ("flags", "u8"),
            ("score", "i16")])
TRADE_FIELDS = ("instrument_id", "price", "volume", "side", "flags")
SIGNAL_FIELDS = tuple(name for name, *_ in SIGNAL.fields)
TARGETS = {"single-frame decode": 1.5, "batch frames/s": 0.8, "lookup share of decode": 0.05}


def median_seconds(function, repeat: int) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(1, number // 2)
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def median_batch_seconds(data: bytes, registry: ap.Registry, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        decode_batch(data, registry=registry, learn=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--frames", type=int, default=4_000_000, help="frames per batch capture")
    options = parser.parse_args()
    print(f"alphapulse_codec {ap.__version__}, Python {platform.python_version()},"
          f" {platform.machine()}")
    registry = ap.Registry()
    signal = registry.register(SIGNAL)
    assert SIGNAL.layout.body_size == ap.Trade.layout.body_size
    trade_frame = ap.Trade(instrument_id=ap.InstrumentId(), price=1, volume=2, side=1).to_bytes()
    signal_frame = signal(price=1, volume=2, side=1).to_bytes()

    def read_all(frame: bytes, names: tuple[str, ...]) -> None:
        message = registry.decode(frame)
        for name in names:
            getattr(message, name)

    single = {
        "decode": (median_seconds(lambda: registry.decode(trade_frame), options.repeat),
                   median_seconds(lambda: registry.decode(signal_frame), options.repeat)),
        "decode + read every field": (
            median_seconds(lambda: read_all(trade_frame, TRADE_FIELDS), options.repeat),
            median_seconds(lambda: read_all(signal_frame, SIGNAL_FIELDS), options.repeat)),
    }
    failed = 0
    print(f"\nsingle frame (built-in Trade, {len(TRADE_FIELDS)} fields | run-time {SIGNAL.name},"
          f" {len(SIGNAL_FIELDS)} fields; both 64-byte frames)")
    for case, (builtin, runtime) in single.items():
        ratio = runtime / builtin
        print(f"  {case:28s} built-in {builtin * 1e9:7.1f} ns   run-time {runtime * 1e9:7.1f} ns"
              f"   {ratio:4.2f}x")
    ratio = single["decode"][1] / single["decode"][0]
    failed += _verdict("single-frame decode", ratio, "<=")

    trade_rows = np.frombuffer(captures.trades(options.frames), dtype=ap.dtype(ap.MessageType.Trade))
    signal_rows = np.zeros(options.frames, dtype=registry.dtype(230))
    for name in ("instrument_id", "price", "volume", "side", "flags"):
        signal_rows[name] = trade_rows[name]
    signal_rows["header"] = trade_rows["header"]
    signal_capture = encode_batch(signal_rows, 230, registry=registry)
    trade_capture = trade_rows.tobytes()
    builtin = median_batch_seconds(trade_capture, registry, max(3, options.repeat // 3))
    runtime = median_batch_seconds(signal_capture, registry, max(3, options.repeat // 3))
    print(f"\nbatch decode, verified ({options.frames:,} frames of 64 bytes)")
    print(f"  built-in Trade      {options.frames / builtin / 1e6:7.1f} M frames/s")
    print(f"  run-time {SIGNAL.name} {options.frames / runtime / 1e6:7.1f} M frames/s")
    failed += _verdict("batch frames/s", builtin / runtime, ">=")

    lookups = 10_000_000
    lookup = median_seconds(lambda: registry._table.count_lookups(230, 1, lookups),
                            max(3, options.repeat // 3)) / lookups
    decode = single["decode"][1]
    print(f"\nregistry lookup in the C decode path: {lookup * 1e9:.2f} ns"
          f" ({lookup / decode * 100:.2f}% of a run-time single-frame decode)")
    failed += _verdict("lookup share of decode", lookup / decode, "<=")
    return 1 if failed else 0


def _verdict(name: str, value: float, relation: str) -> int:
    target = TARGETS[name]
    ok = value <= target if relation == "<=" else value >= target
    print(f"  {name} {value:.3f} (target {relation} {target}): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
