"""Throughput of the in-process channel between threads of one process, with 64-byte Trades.

    python benchmarks/channel.py [--blocks 2000] [--batch 1024] [--repeats 5]

One producer thread sends `--blocks` blocks of `--batch` frames with send_batch; consumer
threads read them with recv_bytes (the producer's bytes, handed over whole) or recv_batch
(decoded into numpy rows, CRC checked). A row's figure is the median over `--repeats` runs of
frames delivered per second, from the first send to the last frame read; the market data
rows of the shed policy (market data's) also count frames shed; those of the block policy
(execution's, here on Trades) lose none. Target: >= 20,000,000 frames/s 1 -> 1 with the batch API.
Threads share the interpreter's lock: what one runs in Python the others wait for, so the
figures are those of one core taking turns, whatever the machine has.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import threading
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # the benchmarks' helpers, this checkout's package

from peers import cpu_model  # noqa: E402
from workload import trade_block  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.relay.policy import default_policy  # noqa: E402
from alphapulse_codec.transport.channel import Channel  # noqa: E402

# market data, sheds the slowest consumer (its default); or makes the producer wait, as the
# execution domain does (whose types are not Trades)
POLICIES = {"shed": default_policy("market_data", "/nonexistent"),
            "block": dataclasses.replace(default_policy("market_data", "/nonexistent"),
                                         overflow="block")}


def one_run(overflow: str, consumers: int, decoded: bool, blocks: int, block: bytes,
            batch: int) -> tuple[float, int]:
    """(frames delivered per second to each consumer, frames shed over all consumers)."""
    policy = POLICIES[overflow]
    channel = Channel("market_data", config=policy, capacity=max(batch, 1 << 20 if overflow ==
                                                                 "shed" else 65536))
    readers = [channel.consumer() for _ in range(consumers)]
    producer = channel.producer(timeout=60.0)
    total = blocks * batch
    finished: list[float] = []

    def read(consumer) -> None:
        got = 0
        while got + consumer.frames_lost < total:
            if decoded:
                result = consumer.recv_batch(timeout=10.0)
                got += len(result[ap.MessageType.Trade]) if len(result) else 0
            else:
                got += len(consumer.recv_bytes(timeout=10.0)) // 64
        finished.append(time.perf_counter())

    threads = [threading.Thread(target=read, args=(c,)) for c in readers]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    for _ in range(blocks):
        producer.send_batch(block)
    for thread in threads:
        thread.join()
    seconds = max(finished) - start
    lost = sum(c.frames_lost for c in readers)
    channel.close()
    return (total * consumers - lost) / consumers / seconds, lost


def cpu_per_frame(block: bytes, batch: int, blocks: int) -> tuple[float, float, float]:
    """Nanoseconds of one thread per frame: send_batch, recv_bytes, recv_batch."""
    channel = Channel("market_data", capacity=blocks * batch)
    raw, decoded = channel.consumer(), channel.consumer()
    producer = channel.producer()
    times = []
    for step in (lambda: producer.send_batch(block), raw.recv_bytes, decoded.recv_batch):
        start = time.process_time_ns()
        for _ in range(blocks):
            step()
        times.append((time.process_time_ns() - start) / (blocks * batch))
    channel.close()
    return times[0], times[1], times[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    block = trade_block(options.batch)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average"
          f" {os.getloadavg()[0]:.1f}; {options.batch}-frame blocks of 64-byte Trades,"
          f" {options.blocks} blocks a run, median of {options.repeats} runs")
    send, recv_bytes, recv_batch = cpu_per_frame(block, options.batch, min(options.blocks, 500))
    print(f"CPU time per frame, one thread: send_batch {send:.1f} ns, recv_bytes"
          f" {recv_bytes:.1f} ns, recv_batch {recv_batch:.1f} ns")
    rows = [("1 -> 1, shed policy, recv_bytes", "shed", 1, False),
            ("1 -> 1, shed policy, recv_batch", "shed", 1, True),
            ("1 -> 1, block policy, recv_bytes", "block", 1, False),
            ("1 -> 4, shed policy, recv_bytes", "shed", 4, False),
            ("1 -> 4, block policy, recv_bytes", "block", 4, False)]
    best = 0.0
    for title, overflow, consumers, decoded in rows:
        runs = [one_run(overflow, consumers, decoded, options.blocks, block, options.batch)
                for _ in range(options.repeats)]
        rate = statistics.median(r[0] for r in runs)
        lost = sum(r[1] for r in runs)
        each = f" to each of {consumers}" if consumers > 1 else ""
        print(f"{title}: {rate:,.0f} frames/s{each}; {lost:,} shed over the runs")
        if consumers == 1 and not decoded:
            best = max(best, rate)
    print(f"target 20,000,000 frames/s 1 -> 1 with the batch API: {best / 20e6:.2f}x of it")


if __name__ == "__main__":
    main()
