"""What this machine lets any transport's latency reach, measured apart from our code: the
floor under the latency percentiles of benchmarks/relay.py and benchmarks/transports.py.

Hiccups: a loop reads the clock as fast as it can, pinned to one core, for --seconds, one
process per core at once; any step between two reads longer than --over microseconds is time
the process did not run (an interrupt, a kernel thread, the hypervisor, another process), the
"hiccups" of jHiccup. Printed per core: the share of the time lost in hiccups, how many there
were a second, their p50, p99 and longest, and the chance that a frame arriving at a random
instant waits more than 5 us for the process to run again (the time within hiccups more than
5 us before their end). When that chance is over 1%, no consumer spinning on that core can show
a p99 of 5 us, whatever it does.

One hop: 64-byte messages over a Unix socketpair from one process to another, at --rate a
second (the sender sleeping between sends, as the latency runs' producers do), each carrying
its send time (time.time_ns); the receiver reads them blocking in recv, or spinning on a
non-blocking recv, on the other core or on the sender's: the least one hop between two Python
processes takes here, p50 and p99. A relay's frame makes two such hops.

Shared memory: the same stamps handed through the slots of a shared page instead, written in
turn by a sender pacing by spinning and read in turn by a receiver spinning on the other core,
as the shared-memory ring's latency run does, with nothing of the ring in between: a clock read,
two stores, loads seen from the other core, a clock read, in Python. A stamp that waits while
the receiver does not run counts its wait, as a frame in the ring does. What the ring's
latency cannot go under here.

    python benchmarks/floor.py [--seconds 5] [--over 2] [--rate 50000] [--messages 50000]
"""
from __future__ import annotations

import argparse
import contextlib
import mmap
import multiprocessing
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pacing import Pacer, die_with, tight_timer_slack  # noqa: E402
from peers import cpu_model  # noqa: E402

WAIT_NS = 5_000  # the ring's p99 target
STAMP = struct.Struct("<q")


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


def receive(sock: socket.socket, count: int, spinning: bool, core: int,
            result: "multiprocessing.Queue[np.ndarray]") -> None:
    """The one-way latencies (ns) of ``count`` messages, read blocking or spinning."""
    os.sched_setaffinity(0, {core})
    latencies = np.empty(count, dtype=np.int64)
    for index in range(count):
        if spinning:
            while True:
                try:
                    message = sock.recv(64, socket.MSG_DONTWAIT)
                    break
                except BlockingIOError:
                    pass
        else:
            message = sock.recv(64)
        latencies[index] = time.time_ns() - STAMP.unpack_from(message)[0]
    result.put(latencies)


@contextlib.contextmanager
def pinned_to(core: int) -> Iterator[None]:
    """This process on ``core`` alone while in the block, then where it may run as before."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mask)


def one_hop(count: int, rate: int, spinning: bool, same_core: bool) -> np.ndarray:
    """Latencies (ns) of ``count`` messages sent at ``rate`` over a socketpair, the sender on
    the first core, the receiver on the same one or on the next."""
    cores = sorted(os.sched_getaffinity(0))
    sender_core = cores[0]
    receiver_core = sender_core if same_core else cores[1]
    fork = multiprocessing.get_context("fork")
    result = fork.Queue()
    sending, receiving = socket.socketpair()
    receiver = fork.Process(target=receive,
                            args=(receiving, count, spinning, receiver_core, result))
    receiver.start()
    receiving.close()
    try:
        with pinned_to(sender_core):
            pacer = Pacer(rate)
            padding = bytes(64 - STAMP.size)
            for _ in range(count):
                pacer.wait()
                sending.send(STAMP.pack(time.time_ns()) + padding)
            latencies = result.get(timeout=120)
    finally:
        sending.close()
        receiver.join(timeout=60)
    return latencies


def report_hops(count: int, rate: int) -> None:
    print(f"\nOne hop: 64-byte messages over a Unix socketpair, {rate:,} a second, {count:,}"
          f" (the first tenth left out); us")
    print(f"{'receiver':<34} {'p50':>8} {'p99':>8}")
    placements = (False, True) if len(os.sched_getaffinity(0)) >= 2 else (True,)
    for spinning in (False, True):
        for same_core in placements:
            latencies = one_hop(count, rate, spinning, same_core)[count // 10:] / 1000
            p50, p99 = np.percentile(latencies, [50, 99])
            how = f"{'spinning' if spinning else 'blocking'}, {'same core' if same_core else 'other core'}"
            print(f"{how:<34} {p50:>8.1f} {p99:>8.1f}")


SLOTS = 1 << 15  # stamps the page holds: 0.65 s at 50,000 a second
SLOT_OFFSET = 64  # the count of stamps written has a cache line of its own


def watch_page(page: mmap.mmap, count: int, core: int, writer: int,
               result: "multiprocessing.Queue[np.ndarray]") -> None:
    """The latencies (ns) of the first ``count`` stamps written to ``page``, each read in turn,
    spinning: a stamp that waited while this process did not run counts, as a frame that waits
    in a ring does; a stamp overwritten before it was read (the writer a lap ahead) does not."""
    die_with(writer)
    os.sched_setaffinity(0, {core})
    latencies = []
    clock, unpack, pack = time.perf_counter_ns, STAMP.unpack_from, STAMP.pack_into
    read = 0
    while read < count:
        if unpack(page, 0)[0] == read:
            continue
        slot = SLOT_OFFSET + 8 * (read % SLOTS)
        stamp = unpack(page, slot)[0]
        if stamp == 0:  # the count is seen before the stamp: a CPU that reorders stores
            continue
        now = clock()
        pack(page, slot, 0)
        read += 1
        if unpack(page, 0)[0] - read < SLOTS:
            latencies.append(now - stamp)
    result.put(np.array(latencies, dtype=np.int64))


def shared_memory_hop(count: int, rate: int, sleep_until_ns: int | None = None) -> np.ndarray:
    """Latencies (ns) of stamps written in turn to the slots of a shared page at ``rate`` and
    read in turn by a process spinning on the next core: a ring with nothing of ours in it, in
    Python. The writer spins until each stamp is due and stamps the instant it writes; with
    ``sleep_until_ns``, it sleeps until that long before each is due, spins to it and stamps the
    instant it was due, as the latency runs of benchmarks/transports.py pace their producers,
    so that a late wake-up counts."""
    cores = sorted(os.sched_getaffinity(0))
    page = mmap.mmap(-1, SLOT_OFFSET + 8 * SLOTS)
    fork = multiprocessing.get_context("fork")
    result = fork.Queue()
    watcher = fork.Process(target=watch_page, args=(page, count, cores[1], os.getpid(), result),
                           daemon=True)
    watcher.start()
    try:
        with pinned_to(cores[0]):
            if sleep_until_ns is not None:
                tight_timer_slack()
            clock, pack, period = time.perf_counter_ns, STAMP.pack_into, 1_000_000_000 // rate
            due = clock()
            for number in range(1, count + 1):
                due += period
                if sleep_until_ns is not None:
                    left = due - clock() - sleep_until_ns
                    if left > 0:
                        time.sleep(left / 1e9)
                while clock() < due:
                    pass
                pack(page, SLOT_OFFSET + 8 * ((number - 1) % SLOTS),
                     clock() if sleep_until_ns is None else due)
                pack(page, 0, number)
            latencies = result.get(timeout=120)
    finally:
        watcher.join(timeout=60)
    return latencies


def report_shared_memory(count: int, rate: int) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        print("\nShared memory: needs two cores, skipped")
        return
    latencies = shared_memory_hop(count, rate)
    kept = latencies[len(latencies) // 10:] / 1000
    p50, p99 = np.percentile(kept, [50, 99])
    print(f"\nShared memory: {count:,} clock stamps through the slots of a shared page, {rate:,} a"
          f" second, writer and reader spinning on cores of their own, no ring ({len(latencies):,}"
          f" read, the first tenth left out): p50 {p50:.2f} us, p99 {p99:.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--over", type=float, default=2.0, help="microseconds")
    parser.add_argument("--rate", type=int, default=50_000, help="messages/s of the one-hop runs")
    parser.add_argument("--messages", type=int, default=50_000, help="per one-hop run")
    options = parser.parse_args()
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    report(options.seconds, options.over)
    report_hops(options.messages, options.rate)
    report_shared_memory(options.messages * 4, options.rate)


if __name__ == "__main__":
    main()
