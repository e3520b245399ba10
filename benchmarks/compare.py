"""Run the codec and its peers in one process and print time ratios against the targets.

    python benchmarks/compare.py [--repeat N]

Each figure is the median of N timing runs; ratios compare medians from this one run.
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
    ("decode", "struct.unpack_from + zlib.crc32"): 0.3,
    ("decode", "msgspec msgpack decode"): 0.6,
    ("build", "struct.pack + zlib.crc32"): 0.3,
    ("crc32 1 MiB", "zlib.crc32"): 1 / 4,
    ("crc32 1 MiB", "ISA-L isal_zlib.crc32"): 1.0,
    ("crc32 1 MiB", "zlib-ng zlib_ng.crc32"): 1.0,
    ("crc32 64 B", "ISA-L isal_zlib.crc32"): 1.0,
}


def median_seconds(function, repeat: int) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(1, number // 2)
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timing runs per function")
    options = parser.parse_args()
    print(f"alphapulse_codec {ap.__version__}, CRC path {ap.crc32_implementation()},"
          f" Python {platform.python_version()}, {platform.machine()}, {peers.cpu_model()}")
    failed = 0
    for case, cases in (("decode", peers.decode_cases()), ("build", peers.build_cases()),
                        ("crc32 1 MiB", peers.crc_cases(2**20)),
                        ("crc32 64 B", peers.crc_cases(64))):
        times = {name: median_seconds(fn, options.repeat) for name, fn in cases.items()}
        ours_name, ours = next(iter(times.items()))
        print(f"\n{case}")
        print(f"  {ours_name:40s} {ours * 1e9:12.1f} ns")
        for name, seconds in list(times.items())[1:]:
            ratio = ours / seconds
            target = TARGETS.get((case, name))
            verdict = ""
            if target is not None:
                ok = ratio <= target
                failed += not ok
                verdict = f"target <= {target:.2f}x: {'met' if ok else 'MISSED'}"
            print(f"  {name:40s} {seconds * 1e9:12.1f} ns   ours/peer {ratio:5.2f}x  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
