"""crc32 on every CRC path this CPU has, against zlib, ISA-L and zlib-ng, on 1 MiB and 64 bytes.

    python benchmarks/crc.py [--repeat N]

Each path runs in a process of its own (ALPHAPULSE_CRC) that times it and the peers in turns,
one run of each after the other, N times; each figure is a median, and each ratio compares
medians of one process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.wire._codec import _crc32_paths  # noqa: E402

SIZES = {"1 MiB": 2**20, "64 B": 64}
OURS = "alphapulse_codec crc32"
# (size, peer) -> the largest acceptable ratio of our time to the peer's, on the path in use
TARGETS = {
    ("1 MiB", "zlib.crc32"): 1 / 4,
    ("1 MiB", "ISA-L isal_zlib.crc32"): 1.0,
    ("1 MiB", "zlib-ng zlib_ng.crc32"): 1.0,
    ("64 B", "ISA-L isal_zlib.crc32"): 1.0,
}


def medians(repeat: int) -> dict[str, dict[str, float]]:
    """Seconds per call, by size and function."""
    out = {}
    for label, size in SIZES.items():
        timers = {name: timeit.Timer(fn) for name, fn in peers.crc_cases(size).items()}
        number = max(1, timers[OURS].autorange()[0] // 4)
        runs: dict[str, list[float]] = {name: [] for name in timers}
        for _ in range(repeat):
            for name, timer in timers.items():
                runs[name].append(timer.timeit(number) / number)
        out[label] = {name: statistics.median(times) for name, times in runs.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timing runs per function")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps({"path": ap.crc32_implementation(), "times": medians(options.repeat)}))
        return 0
    chosen = ap.crc32_implementation()
    print(f"alphapulse_codec {ap.__version__}, Python {platform.python_version()},"
          f" {peers.cpu_model()}; CRC paths {', '.join(_crc32_paths())}, in use {chosen}")
    failed = 0
    for path in _crc32_paths():
        run = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(options.repeat)],
                             env={**os.environ, "ALPHAPULSE_CRC": path}, capture_output=True,
                             text=True, check=True)
        result = json.loads(run.stdout)
        print(f"\npath {result['path']}{' (in use by default)' if path == chosen else ''}")
        for label, times in result["times"].items():
            ours = times[OURS]
            speed = f"{SIZES[label] / ours / 1e9:6.2f} GB/s" if SIZES[label] >= 4096 else ""
            print(f"  {label:6s} {OURS:28s} {ours * 1e9:12.1f} ns  {speed}")
            for name, seconds in times.items():
                if name == OURS:
                    continue
                ratio = ours / seconds
                target = TARGETS.get((label, name)) if path == chosen else None
                verdict = ""
                if target is not None:
                    ok = ratio <= target
                    failed += not ok
                    verdict = f"target <= {target:.2f}x: {'met' if ok else 'MISSED'}"
                print(f"  {label:6s} {name:28s} {seconds * 1e9:12.1f} ns  ours/peer {ratio:5.2f}x"
                      f"  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
