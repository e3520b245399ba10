"""How long a process spinning on a core of its own is kept from running: the floor under the
latency percentiles of a busy-spinning transport on this machine.

A loop reads the clock as fast as it can, pinned to one core, for --seconds; any step between
two reads longer than --over microseconds is time the process did not run (an interrupt, a
kernel thread, the hypervisor, another process), the "hiccups" of jHiccup. Printed per core:
the share of the time lost in hiccups, how many there were a second, their p50, p99 and
longest, and the chance that a frame arriving at a random instant waits more than 5 us for the
process to run again (the time within hiccups more than 5 us before their end). When that
chance is over 1%, no consumer spinning on that core can show a p99 of 5 us, whatever it does.

    python benchmarks/hiccups.py [--seconds 5] [--over 2]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import cpu_model  # noqa: E402

WAIT_NS = 5_000  # the ring's p99 target


def spin(core: int, seconds: float, over_ns: int, result: "multiprocessing.Queue[tuple]") -> None:
    """The hiccups (ns) of ``seconds`` of clock reads on ``core``, and the time spun (ns)."""
    os.sched_setaffinity(0, {core})
    clock = time.perf_counter_ns
    gaps = []
    start = last = clock()
    end = start + int(seconds * 1e9)
    while last < end:
        now = clock()
        if now - last > over_ns:
            gaps.append(now - last)
        last = now
    result.put((core, np.array(gaps, dtype=np.int64), last - start))


def measure(seconds: float, over_us: float) -> list[tuple[int, np.ndarray, int]]:
    """One spinning process per core this process may use, all at once."""
    fork = multiprocessing.get_context("fork")
    result = fork.Queue()
    cores = sorted(os.sched_getaffinity(0))
    workers = [fork.Process(target=spin, args=(core, seconds, int(over_us * 1000), result))
               for core in cores]
    for worker in workers:
        worker.start()
    found = sorted(result.get(timeout=seconds + 60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    return found


def report(seconds: float, over_us: float) -> None:
    print(f"Hiccups: each core spun by a process of its own for {seconds:g} s, steps between clock"
          f" reads over {over_us:g} us")
    print(f"{'core':>4} {'time lost':>10} {'hiccups/s':>10} {'p50 us':>8} {'p99 us':>8}"
          f" {'longest us':>11} {'P(wait > 5 us)':>15}")
    for core, gaps, spun in measure(seconds, over_us):
        if len(gaps):
            p50, p99 = np.percentile(gaps / 1000, [50, 99])
            longest = gaps.max() / 1000
        else:
            p50 = p99 = longest = 0.0
        waits = np.clip(gaps - WAIT_NS, 0, None).sum() / spun
        print(f"{core:>4} {100 * gaps.sum() / spun:>9.2f}% {len(gaps) / (spun / 1e9):>10,.0f}"
              f" {p50:>8.1f} {p99:>8.1f} {longest:>11,.1f} {100 * waits:>14.3f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--over", type=float, default=2.0, help="microseconds")
    options = parser.parse_args()
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    report(options.seconds, options.over)


if __name__ == "__main__":
    main()
