"""Batch decode throughput against a hand-written struct loop, a memory copy, and itself on
two threads, in one process.

    python benchmarks/batch.py [--gib 0.25] [--repeat 5]

The decodes and the copy are timed in turns (one run of each per round), so that the load of a
shared machine drifting during the run weighs on each alike; each figure is a median.
"""
from __future__ import annotations

import argparse
import statistics
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import captures  # noqa: E402
import peers  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.capture.batch import decode_batch  # noqa: E402

HEADER = struct.Struct("<IBBBBIQQI")


def struct_loop(data: bytes) -> int:
    """What one writes by hand: header, checksum, then the Trade body into Python lists."""
    position, frames, prices = 0, 0, []
    view = memoryview(data)
    while position < len(data):
        magic, kind, _, _, _, size, _, _, checksum = HEADER.unpack_from(data, position)
        end = position + 32 + size
        if magic != 0xDEADBEEF or zlib.crc32(view[position + 32:end],
                                             zlib.crc32(view[position:position + 28])) != checksum:
            raise ValueError(f"bad frame at {position}")
        if kind == 1:
            prices.append(struct.unpack_from("<q", data, position + 44)[0])
        frames += 1
        position = end
    return frames


def _name(message_type: int) -> str:
    return getattr(message_type, "name", str(message_type))


def best(function, repeat: int) -> float:
    return in_turns({"": function}, repeat)[""]


def in_turns(functions: dict, repeat: int) -> dict[str, float]:
    """The median time of each function, run in turns: one run of each per round."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(name: str, data: bytes, repeat: int) -> list[bool]:
    frames = len(decode_batch(data, verify=False))
    array = np.frombuffer(data, dtype=np.uint8)
    warm = np.ones_like(array)  # written once, so the copy pays no page faults
    busiest = max(decode_batch(data[:1 << 20], verify=False), key=lambda item: len(item[1]))[0]
    times = in_turns({"verify": lambda: decode_batch(data),
                      "no verify": lambda: decode_batch(data, verify=False),
                      # the offsets of runs are written when first read: what reading them adds
                      "offsets read": lambda: decode_batch(data, verify=False).offsets(busiest),
                      "copy": lambda: np.copyto(warm, array)}, repeat)
    verified, unverified, copy = times["verify"], times["no verify"], times["copy"]
    with_offsets = times["offsets read"]
    sample = data[:16 << 20]
    cut = decode_batch(sample, verify=False)
    sample = sample[:cut.errors[-1].offset] if cut.errors else sample  # end on a whole frame
    sample_frames = len(decode_batch(sample, verify=False))
    looped = best(lambda: struct_loop(sample), 3) * frames / sample_frames
    half = len(data) // 2
    first, second = data[:half], data[half:]

    def two_threads() -> None:
        threads = [threading.Thread(target=decode_batch, args=(part,)) for part in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    parallel = best(two_threads, repeat)
    gb = len(data) / 1e9
    print(f"\n{name}: {len(data) / 2**30:.2f} GiB, {frames:,} frames (median of {repeat} runs)")
    print(f"  decode_batch, verify      {verified:7.3f} s  {frames / verified / 1e6:8.1f} M frames/s  {gb / verified:6.2f} GB/s")
    print(f"  decode_batch, no verify   {unverified:7.3f} s  {frames / unverified / 1e6:8.1f} M frames/s  {gb / unverified:6.2f} GB/s")
    print(f"  same, then offsets read   {with_offsets:7.3f} s  {frames / with_offsets / 1e6:8.1f} M frames/s  {gb / with_offsets:6.2f} GB/s"
          f"  (those of {_name(busiest)})")
    print(f"  numpy.copyto, warm buffer {copy:7.3f} s                       {gb / copy:6.2f} GB/s")
    print(f"  struct + zlib loop        {looped:7.3f} s  {frames / looped / 1e6:8.1f} M frames/s  (timed on {sample_frames:,} frames)")
    print(f"  2 threads, verify         {parallel:7.3f} s  {verified / parallel:5.2f}x one thread")
    checks = [
        ("frames/s with CRC >= 100x the struct loop", looped / verified, 100),
        ("GB/s with CRC >= 3 on one core", gb / verified, 3),
        ("verify bandwidth >= 0.4x numpy.copyto", copy / verified, 0.4),
        ("no-verify bandwidth >= 0.8x numpy.copyto", copy / unverified, 0.8),
        ("2 threads >= 1.7x one thread", verified / parallel, 1.7),
    ]
    results = []
    for label, value, target in checks:
        ok = value >= target
        results.append(ok)
        print(f"  {label:45s} {value:8.2f}  {'met' if ok else 'MISSED'}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=0.25, help="size of each capture")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    size = int(options.gib * 2**30)
    print(f"alphapulse_codec {ap.__version__}, CRC path {ap.crc32_implementation()},"
          f" {peers.cpu_model()}")
    results = report("mixed capture (alphapulse generate)", captures.mixed(size), options.repeat)
    results += report("64-byte Trade capture", captures.trades(size // 64), options.repeat)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
