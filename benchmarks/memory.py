"""Peak memory of iterating a capture larger than memory should allow, chunk by chunk.

    python benchmarks/memory.py [--gib 4] [--keep PATH]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from alphapulse_codec.capture.batch import iter_batches
from alphapulse_codec.samples.synthetic import write_capture

BYTES_PER_FRAME = 72  # about, for the synthetic mix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--keep", type=Path, help="write the capture here and keep it")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = options.keep or Path(scratch) / "capture.bin"
        if not path.exists():
            write_capture(path, int(options.gib * 2**30 / BYTES_PER_FRAME))
        size = path.stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        frames = sum(len(chunk) for chunk in iter_batches(path))
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{size / 2**30:.2f} GiB, {frames:,} frames in {elapsed:.1f} s;"
          f" peak RSS {peak:.0f} MiB (before iterating: {before / 1024:.0f} MiB)")
    return 0 if peak < 512 else 1


if __name__ == "__main__":
    sys.exit(main())
