"""Throughput and one-way latency of the shared-memory ring, between real processes, with
64-byte Trades.

    python benchmarks/shm_ring.py [--seconds 2] [--batch 4096] [--rate 50000] [--size-mb 2] [--consumers 1 4]

Throughput: one producer writing with send_batch (`--batch` frames a call) for `--seconds`,
delivered to 1 and to 4 consumers, each reading with recv_bytes (the frames' bytes) and, in a
second row, recv_batch (decoded into numpy rows, CRC checked). The backpressure policy keeps
every frame (producers wait for the slowest consumer); the lossy one lets consumers be lapped,
and counts what they lost. Targets: >= 20,000,000 frames/s 1 -> 1 with the batch API.

Latency: one producer sending single frames at `--rate` frames/s, its monotonic clock
(time.perf_counter_ns, CLOCK_MONOTONIC) in the header's timestamp field; one consumer
subtracting it from the clock when recv_bytes returns the frame, busy-spinning, then sleeping
on the futex. Targets: p50 <= 1 us, p99 <= 5 us busy-spinning. Beside the spinning run, the
same stamps handed in turn through the slots of a bare shared page with no ring
(benchmarks/floor.py): the least any ring read from Python can show on this machine at that
moment. A spinning process is always
runnable: on a machine with more runnable processes than cores it waits for its turn for
milliseconds, and the figures show the scheduler, not the ring (the load average is printed
first). With 2 cores, 1 -> 4 runs five processes on two cores: the figures show that too.

Before them, what holds no waiting: the CPU time per frame of send_batch, recv_bytes and
recv_batch in one process taking turns, and the time of one frame's send then recv (decoded)
in one process with a clock read beside it, the least a one-way latency measured from Python
can take.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import struct
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import shared_memory_hop  # noqa: E402
from peers import cpu_model  # noqa: E402
from workload import trade_block  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.transport import Consumer, Producer, ring_path  # noqa: E402

CTX = multiprocessing.get_context("fork")
SIZE_MB = 2  # default ring: fits the caches that producer and consumer share


def produce(path, policy, wait, batch, seconds, ready, go, sent):
    payload = trade_block(batch)
    with Producer(path, size_mb=SIZE_MB, policy=policy, wait=wait) as producer:
        ready.set()
        go.wait()
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(16):
                count += producer.send_batch(payload)
        sent.put(count)


def consume(path, policy, wait, decoded, ready, done, results):
    with Consumer(path, size_mb=SIZE_MB, policy=policy, wait=wait) as consumer:
        ready.set()
        frames, first, last = 0, None, None
        while not done.is_set() or first is None:
            if decoded:
                result = consumer.recv_batch(max_frames=8192, timeout=0.2)
                got = len(result[ap.MessageType.Trade]) if len(result) else 0
            else:
                got = len(consumer.recv_bytes(max_frames=8192, timeout=0.2)) // 64
            if got:
                last = time.perf_counter()
                if first is None:  # the clock starts here: the frames of this read are not timed
                    first = last
                else:
                    frames += got
        results.put((frames, last - first if frames else 0.0, consumer.frames_lost))


def throughput(directory, consumers, policy, wait, decoded, batch, seconds):
    path = ring_path(f"bench-{consumers}-{policy}-{int(decoded)}", directory)
    readies = [CTX.Event() for _ in range(consumers + 1)]
    go, done, results, sent = CTX.Event(), CTX.Event(), CTX.Queue(), CTX.Queue()
    readers = [CTX.Process(target=consume, args=(path, policy, wait, decoded, readies[i], done, results))
               for i in range(consumers)]
    for reader in readers:
        reader.start()
    for ready in readies[:consumers]:
        ready.wait()
    writer = CTX.Process(target=produce, args=(path, policy, wait, batch, seconds, readies[-1], go, sent))
    writer.start()
    readies[-1].wait()
    go.set()
    written = sent.get()
    writer.join()
    done.set()
    outcomes = [results.get() for _ in readers]
    for reader in readers:
        reader.join()
    os.unlink(path)
    return written, outcomes


def cpu_per_frame(directory, batch, rounds=400):
    """CPU time per frame of send_batch and of recv_bytes, in one process taking turns: what
    each side costs, whatever else the machine runs."""
    path = ring_path("bench-cpu", directory)
    payload = trade_block(batch)
    with Producer(path, size_mb=SIZE_MB) as producer, Consumer(path, size_mb=SIZE_MB) as consumer:
        sending = receiving = decoding = 0.0
        for turn in range(2 * rounds):
            start = time.process_time()
            producer.send_batch(payload)
            middle = time.process_time()
            if turn % 2:
                frames = len(consumer.recv_batch(max_frames=batch, timeout=1)[ap.MessageType.Trade])
                decoding += time.process_time() - middle
            else:
                frames = len(consumer.recv_bytes(max_frames=batch, timeout=1)) // 64
                receiving += time.process_time() - middle
            sending += middle - start
            assert frames == batch
    os.unlink(path)
    per_frame = 1e9 / (rounds * batch)
    return sending * per_frame / 2, receiving * per_frame, decoding * per_frame


def frame_path_ns(directory, rounds=20_000, repeats=7):
    """Nanoseconds of one single-frame send then recv (decoded, CRC checked) in one process,
    nothing waited for, best of `repeats`; and of one time.time_ns(): what a one-way latency
    measured from Python holds besides the hand-over from one core to another."""
    path = ring_path("bench-path", directory)
    frame = trade_block(1)
    with Producer(path, size_mb=SIZE_MB, policy="backpressure", wait="spin") as producer, \
            Consumer(path, size_mb=SIZE_MB, policy="backpressure", wait="spin") as consumer:
        send, recv = producer.send, consumer.recv

        def one_frame():
            send(frame)
            recv(None)

        path_ns = min(timeit.repeat(one_frame, number=rounds, repeat=repeats)) / rounds * 1e9
    clock_ns = min(timeit.repeat(time.time_ns, number=rounds, repeat=repeats)) / rounds * 1e9
    os.unlink(path)
    return path_ns, clock_ns


def send_paced(path, rate, count, ready, go):
    frame = bytearray(trade_block(1))
    period = 1_000_000_000 // rate
    with Producer(path, size_mb=SIZE_MB, wait="spin") as producer:
        ready.set()
        go.wait()
        due = time.perf_counter_ns()
        for _ in range(count):
            due += period
            while time.perf_counter_ns() < due:
                pass
            struct.pack_into("<Q", frame, 20, time.perf_counter_ns())
            producer.send(frame)


def latency(directory, rate, count, wait):
    path = ring_path("bench-latency", directory)
    ready, go = CTX.Event(), CTX.Event()
    delays = np.empty(count, dtype=np.int64)
    with Consumer(path, size_mb=SIZE_MB, wait=wait) as consumer:
        writer = CTX.Process(target=send_paced, args=(path, rate, count, ready, go))
        writer.start()
        ready.wait()
        go.set()
        received = 0
        clock, unpack = time.perf_counter_ns, struct.unpack_from
        while received < count:
            frames = consumer.recv_bytes(max_frames=1, timeout=5)
            now = clock()
            if not frames:
                break
            delays[received] = now - unpack("<Q", frames, 20)[0]
            received += 1
        lost = consumer.frames_lost
        writer.join()
    os.unlink(path)
    return delays[:received], lost


def histogram(delays):
    edges = [0, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 50_000, 1 << 62]
    counts, _ = np.histogram(delays, bins=edges)
    widest = max(counts.max(), 1)
    for low, high, n in zip(edges, edges[1:], counts):
        label = f">= {low / 1000:g} us" if high == 1 << 62 else f"{low / 1000:g}-{high / 1000:g} us"
        print(f"  {label:>14} {n:8d} {'#' * int(50 * n / widest)}")


def main() -> None:
    global SIZE_MB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--latency-frames", type=int, default=200_000)
    parser.add_argument("--size-mb", type=float, default=SIZE_MB)
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness increment of the benchmark's processes (negative needs root):"
                             " on a busy machine, fewer preemptions in the figures")
    parser.add_argument("--consumers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--wait", choices=["spin", "yield", "sleep"], default="yield",
                        help="waiting strategy of the throughput runs (latency: always spin)")
    args = parser.parse_args()
    SIZE_MB = args.size_mb  # the processes are forked: they see it
    if args.nice:
        os.nice(args.nice)  # inherited by the forked processes
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other work shares them")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; ring {SIZE_MB} MiB, 64-byte Trades,"
          f" send_batch of {args.batch}, throughput runs wait by {args.wait}"
          f"{f', nice {args.nice:+d}' if args.nice else ''}")
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as directory:
        send_ns, receive_ns, decode_ns = cpu_per_frame(directory, args.batch)
        print(f"CPU time per frame, one process taking turns: send_batch {send_ns:.1f} ns,"
              f" recv_bytes {receive_ns:.1f} ns, recv_batch {decode_ns:.1f} ns: a ceiling of"
              f" {1e9 / max(send_ns, receive_ns):,.0f} frames/s 1 -> 1 with recv_bytes,"
              f" {1e9 / max(send_ns, decode_ns):,.0f} with recv_batch, on two free cores")
        path_ns, clock_ns = frame_path_ns(directory)
        print(f"one frame's send then recv (decoded) in one process, nothing waited for:"
              f" {path_ns:,.0f} ns; a clock read (time.time_ns) {clock_ns:,.0f} ns: the least a"
              f" one-way latency measured from Python takes, before the hand-over between cores")
        print(f"{'consumers':>9} {'policy':>12} {'read with':>12} {'sent/s':>14} {'delivered/s':>14}"
              f" {'per consumer/s':>15} {'lost':>10}")
        for consumers in args.consumers:
            for policy in ("backpressure", "lossy"):
                for decoded in (False, True):
                    written, outcomes = throughput(directory, consumers, policy, args.wait, decoded,
                                                   args.batch, args.seconds)
                    rates = [frames / span for frames, span, _ in outcomes if span]
                    lost = sum(o[2] for o in outcomes)
                    print(f"{consumers:>9} {policy:>12} {'recv_batch' if decoded else 'recv_bytes':>12}"
                          f" {written / args.seconds:>14,.0f} {sum(rates):>14,.0f}"
                          f" {np.median(rates):>15,.0f} {lost:>10,}")
        if (os.cpu_count() or 1) < max(args.consumers) + 1:
            print(f"(1 -> {max(args.consumers)} runs {max(args.consumers) + 1} busy processes on"
                  f" {os.cpu_count()} cores: oversubscribed)")
        for wait in ("spin", "sleep"):
            delays, lost = latency(directory, args.rate, args.latency_frames, wait)
            p50, p99, p999 = np.percentile(delays, [50, 99, 99.9])
            print(f"\none-way latency, 1 -> 1, single send at {args.rate:,} frames/s offered,"
                  f" consumer waits by {wait}: {len(delays):,} frames, {lost} lost")
            print(f"  p50 {p50 / 1000:.2f} us, p99 {p99 / 1000:.2f} us, p99.9 {p999 / 1000:.2f} us,"
                  f" max {delays.max() / 1000:.1f} us")
            histogram(delays)
            if wait == "spin" and len(os.sched_getaffinity(0)) >= 2:
                bare = shared_memory_hop(args.latency_frames, args.rate)
                p50, p99 = np.percentile(bare, [50, 99])
                print(f"  the same through the slots of a bare shared page, no ring (floor.py; both pinned,"
                      f" spinning): p50 {p50 / 1000:.2f} us, p99 {p99 / 1000:.2f} us")


if __name__ == "__main__":
    main()
