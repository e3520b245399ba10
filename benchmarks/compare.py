"""Run the codec and its peers in one process and print time ratios against the targets.

    python benchmarks/compare.py [--repeat N]

Each figure is the median of N timing runs, the functions of a case timed in turns; ratios
compare medians from this one run.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

import alphapulse_codec as ap  # noqa: E402

# (case, peer) -> the largest acceptable ratio of our time to the peer's time
TARGETS = {
    ("Trade: decode + verify, read price", "struct.unpack_from + zlib.crc32"): 0.3,
    ("Trade: decode + verify, read price", "msgspec msgpack decode"): 0.6,
    ("Trade: decode + verify, read every field", "struct.unpack_from + zlib.crc32"): 0.5,
    ("Trade: decode + verify, read every field", "msgspec msgpack decode"): 0.8,
    ("Trade: build from every field", "struct.pack + zlib.crc32"): 0.3,
    ("Trade: build from every field", "msgspec msgpack encode"): 0.8,
    ("crc32 1 MiB", "zlib.crc32"): 1 / 4,
    ("crc32 1 MiB", "ISA-L isal_zlib.crc32"): 1.0,
    ("crc32 1 MiB", "zlib-ng zlib_ng.crc32"): 1.0,
    ("crc32 64 B", "ISA-L isal_zlib.crc32"): 1.0,
}


def median_seconds(cases: dict, repeat: int) -> dict[str, float]:
    """The median time of each function, timed in turns (one batch of each per round), so
    that the load of a shared machine drifting during the run weighs on every side alike."""
    timers = {name: timeit.Timer(fn) for name, fn in cases.items()}
    numbers = {name: max(1, timer.autorange()[0] // 2) for name, timer in timers.items()}
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeat):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(numbers[name]) / numbers[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timing runs per function")
    options = parser.parse_args()
    print(f"alphapulse_codec {ap.__version__}, CRC path {ap.crc32_implementation()},"
          f" Python {platform.python_version()}, {platform.machine()}, {peers.cpu_model()}")
    peers.check_whole_cases()
    failed = 0
    for case, cases in peers.all_cases().items():
        times = median_seconds(cases, options.repeat)
        ours = {name: t for name, t in times.items() if name.startswith("alphapulse_codec")}
        print(f"\n{case}")
        for name, seconds in ours.items():
            print(f"  {name:40s} {seconds * 1e9:12.1f} ns")
        for name, seconds in times.items():
            if name in ours:
                continue
            print(f"  {name:40s} {seconds * 1e9:12.1f} ns")
            for ours_name, ours_seconds in ours.items():
                ratio = ours_seconds / seconds
                target = TARGETS.get((case, name))
                verdict = ""
                if target is not None:
                    ok = ratio <= target
                    failed += not ok
                    verdict = f"target <= {target:.2f}x: {'met' if ok else 'MISSED'}"
                label = ours_name.removeprefix("alphapulse_codec").strip() or "ours"
                print(f"    {label + ' / peer':36s} {ratio:5.2f}x  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
