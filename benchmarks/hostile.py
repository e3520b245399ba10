"""Bounded time and memory of batch decode: hostile headers against valid frames, and the
address space a decode takes against the rows it returns.

    python benchmarks/hostile.py [--mib 64] [--repeat 5]

Hostile input: headers back to back, each claiming the largest frame the limit allows, so
that every one is a resync candidate whose claimed frame lies inside the input; of a type
with TLVs (Trade), one with counted tails (OrderBook) and a run-time schema's. Targets:
decoding it runs at >= 0.25x the speed of decoding as many bytes of valid frames (same run,
medians); the peak address space of a decode is <= 1.5x the bytes it returns (rows, offsets,
tails) plus the input mapping, measured from VmPeak in a fresh subprocess.
"""
from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import captures  # noqa: E402
from peers import cpu_model  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.capture.batch import decode_batch  # noqa: E402

HEADER = struct.Struct("<IBBBBIQQI")
# a run-time schema, registered for the decodes of its hostile headers
SIGNAL = ap.Schema(
    message_type=230, version=1, name="BenchSignal",
    fields=[("instrument_id", "instrument_id"), ("price", "i64"), ("volume", "u32"),
            ("venue", "u16"), ("strategy", "u16"), ("side", "u8"), ("flags", "u8"),
            ("score", "i16")])
ALLOWANCE = 32 << 20  # the interpreter's own growth during a decode: lists, arrays' objects

# Run in a fresh process: map the capture, decode it, and report VmPeak growth against the
# bytes the result holds.
ADDRESS_SPACE = """
import json, mmap, sys
from alphapulse_codec.capture.batch import decode_batch

def vm(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) << 10 for line in status if line.startswith(field))

with open(sys.argv[1], "rb") as stream:
    source = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
before = vm("VmSize:")
result = decode_batch(source)
peak = vm("VmPeak:")
returned = sum(g.rows.nbytes + g.offsets.nbytes + len(g.tails) + g.tail_index.nbytes
               for g in result._groups.values())
print(json.dumps({"input": len(source), "before": before, "peak": peak, "returned": returned,
                  "types": len(result.types), "frames": len(result)}))
"""


def hostile(size: int, message_type: int) -> bytes:
    """`size` bytes of headers of `message_type` back to back, each claiming the default size
    limit, then as many zero bytes, so that every claimed frame lies inside the input."""
    header = HEADER.pack(0xDEADBEEF, message_type, 1, 0, 0,
                         ap.DEFAULT_MAX_FRAME_SIZE - HEADER.size, 0, 0, 0)
    return header * (size // len(header)) + bytes(ap.DEFAULT_MAX_FRAME_SIZE)


def median_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speeds(size: int, repeat: int) -> list[bool]:
    valid = captures.trades(size // 64)
    valid_time = median_time(lambda: decode_batch(valid), repeat)
    print(f"valid Trades            {len(valid) / 2**20:6.1f} MiB  {valid_time * 1e3:9.1f} ms"
          f"  {len(valid) / valid_time / 1e9:6.2f} GB/s")
    registry = ap.Registry()
    registry.register(SIGNAL)
    results = []
    # Trade carries TLVs (its claimed tail, over the headers after it, walks as TLVs),
    # OrderBook has counted tails, BenchSignal is read by a run-time schema
    for name, message_type in (("Trade", ap.MessageType.Trade),
                               ("OrderBook", ap.MessageType.OrderBook),
                               ("BenchSignal", SIGNAL.message_type)):
        data = hostile(size, message_type)
        stretches = decode_batch(data, registry=registry, learn=False).errors
        assert len(stretches) == 1 and stretches[0].length == len(data), stretches
        elapsed = median_time(lambda: decode_batch(data, registry=registry, learn=False),
                              repeat)
        ratio = (size / elapsed) / (len(valid) / valid_time)
        ok = ratio >= 0.25
        results.append(ok)
        print(f"hostile {name:15s} {size / 2**20:6.1f} MiB  {elapsed * 1e3:9.1f} ms"
              f"  {size / elapsed / 1e9:6.2f} GB/s  {ratio:5.2f}x valid"
              f"  (target >= 0.25x: {'met' if ok else 'MISSED'})")
    return results


def address_space(size: int) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "capture.bin"
        path.write_bytes(captures.mixed(size))
        output = subprocess.run([sys.executable, "-c", ADDRESS_SPACE, str(path)],
                                capture_output=True, text=True, check=True).stdout
    figures = json.loads(output)
    grown = figures["peak"] - figures["before"]
    bound = 1.5 * figures["returned"] + ALLOWANCE
    ok = grown <= bound
    mib = 2**20
    print(f"address space: {figures['input'] / mib:.1f} MiB capture of {figures['types']} types"
          f" mapped, {figures['frames']:,} frames; decode returned {figures['returned'] / mib:.1f}"
          f" MiB; VmPeak grew {grown / mib:.1f} MiB = {grown / figures['returned']:.2f}x the bytes"
          f" returned (bound 1.5x + {ALLOWANCE // mib} MiB = {bound / mib:.1f} MiB:"
          f" {'met' if ok else 'MISSED'})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=64.0, help="size of each input")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    size = int(options.mib * 2**20)
    print(f"alphapulse_codec {ap.__version__}, CRC path {ap.crc32_implementation()},"
          f" CPU {cpu_model()}, medians of {options.repeat}")
    results = speeds(size, options.repeat)
    results.append(address_space(size))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
