"""Throughput and latency of a domain relay, 64-byte Trades, each party in its own process.

Rows, in one run: a bare asyncio Unix-socket relay that forwards whole 64 KiB chunks and
looks at nothing, to a consumer that only counts bytes (the ceiling); then 1 producer (send_batch
of 1024 frames) -> relay -> 1 consumer with the market-data policy and with the execution policy
(checksums and sequences checked, sequences stamped by the producer, producers blocked by a full
consumer), each to a consumer taking whole frames (recv_bytes) and to one decoding them into
arrays (recv_batch, checksums verified); 1 producer -> relay -> 4 consumers (market data,
recv_bytes); and the relay against nats-server + nats-py (one publisher process, one subscriber
process) with the same batching: 64 frames per send_batch and per NATS message, and one frame
per send and per message (skipped, with a line saying so, without nats-server); each relay row
of these twice: writing each send at once, and gathering sends into 64 KiB writes
(batch_bytes=65536), as nats-py gathers its publishes into one write by default. Printed:
frames/s delivered (median of the rounds; summed over the consumers), the ratio to the bare
relay, the relay's (or nats-server's) CPU time per frame delivered (user + system, from /proc),
the frames sent but not delivered (shed by the relay, dropped by nats-server), and the ratios
4 consumers / 1 and relay / NATS.

Then one-way latency: single-frame `send` paced at --rate frames/s, the producer sleeping
until each send is due (on a timer of 1 ns slack, see pacing.py: a producer that busy-waits
holds one of the cores the relay and the consumer need), each frame carrying its send time
(time.time_ns, the same clock in every process) in its header timestamp, to a consumer that
notes its arrival when `recv` returns: p50, p90, p99, p99.9, max and a histogram on log-spaced
buckets. Twice: with the relay and the consumer sleeping until bytes come (the default), and
with the relay busy-polling (busy_poll_us of --busy-poll-us) on a core of its own, the producer
and the consumer sharing the other: what a machine that gives the relay a core gets.
--latency-only runs that part alone.

    python benchmarks/relay.py [--frames 4000000] [--rounds 3] [--latency-frames 250000]
                               [--rate 50000] [--busy-poll-us 1000] [--quick] [--latency-only]
                               (make bench runs it)
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package and test helpers

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.relay import DomainPolicy, connect, default_policy  # noqa: E402
from alphapulse_codec.relay.client import relay_stats  # noqa: E402
from alphapulse_codec.wire.enums import RelayRole  # noqa: E402
from peers import cpu_model  # noqa: E402
from nats_peer import nats_round, server_binary  # noqa: E402
from pacing import Pacer, pin  # noqa: E402
from relays import RelayProcess  # noqa: E402
from workload import cpu_seconds, trade_block  # noqa: E402

BATCH_FRAMES = 1024  # 64 KiB of 64-byte Trades per send_batch
GATHERED = 1 << 16   # batch_bytes of the rows that gather small sends into one write
IDLE_SECONDS = 3.0  # a consumer that gets nothing this long after its first frame stops
# the execution relay's policy, on the relay of the 64-byte Trades
EXECUTION_POLICY = {"validate_checksums": True, "require_sequence": True, "overflow": "block",
                    "max_queue_size": 10_000, "circuit_breaker": 8_000}


def produce(domain: str, runtime_dir: str, frames: int, batch: int, auto: bool,
            batch_bytes: int = 0) -> None:
    """``frames`` Trades, ``batch`` at a time with send_batch, or one by one with send when
    ``batch`` is 1; written at once, or gathered into writes of ``batch_bytes``."""
    block = trade_block(batch)
    with connect(domain, "producer", runtime_dir=runtime_dir, name="bench-producer",
                 source=ap.SourceType.BinanceCollector,
                 sequence="auto" if auto else None, batch_bytes=batch_bytes) as producer:
        if batch == 1:
            send = producer.send
            for _ in range(frames):
                send(block)
        else:
            for _ in range(frames // batch):
                producer.send_batch(block)
        producer.finish()


def consume(domain: str, runtime_dir: str, frames: int, decoded: bool
            ) -> tuple[int, int, float, float]:
    """Frames received, those of the first read, and the clock (CLOCK_MONOTONIC, the same in
    every process) at the end of the first read and of the last: decoded into arrays by
    ``recv_batch``, or taken as whole frames by ``recv_bytes``. Stops early when nothing comes
    for IDLE_SECONDS (a shed consumer)."""
    with connect(domain, "consumer", runtime_dir=runtime_dir, name="bench-consumer") as consumer:
        if decoded:
            def take(timeout: float | None) -> int:
                return len(consumer.recv_batch(max_frames=65536, timeout=timeout))
        else:
            def take(timeout: float | None) -> int:
                return len(consumer.recv_bytes(max_frames=65536, timeout=timeout)) // 64
        received = first_read = take(None)
        first = last = time.perf_counter()
        while received < frames:
            got = take(IDLE_SECONDS)
            if not got:
                break
            received += got
            last = time.perf_counter()
        return received, first_read, first, last


def relay_round(domain: str, frames: int, changes: dict[str, object], decoded: bool = True, *,
                consumers: int = 1, batch: int = BATCH_FRAMES, batch_bytes: int = 0
                ) -> tuple[float, float, int]:
    """Frame deliveries/s summed over the consumers (from the end of the first read any made
    to the last, the frames of first reads left out), the relay's CPU seconds per frame
    delivered, and the deliveries that did not happen (frames the relay shed)."""
    runtime_dir = Path(tempfile.mkdtemp(prefix="ap-bench-", dir="/tmp"))
    relay = RelayProcess(domain, runtime_dir, **changes).wait_ready()
    try:
        fork = multiprocessing.get_context("fork")
        consumer_ready = connect(domain, "consumer", runtime_dir=runtime_dir)  # warm the relay
        consumer_ready.close()
        cpu_before = cpu_seconds(relay.process.pid)
        result = fork.Queue()
        readers = [fork.Process(target=lambda: result.put(consume(domain, str(runtime_dir), frames,
                                                                  decoded)))
                   for _ in range(consumers)]
        for reader in readers:
            reader.start()
        while _consumers_connected(domain, runtime_dir) < consumers:
            time.sleep(0.01)
        writer = fork.Process(target=produce, args=(domain, str(runtime_dir), frames, batch,
                                                    bool(changes.get("require_sequence")),
                                                    batch_bytes))
        writer.start()
        counts = [result.get(timeout=600) for _ in readers]
        writer.join(timeout=60)
        for reader in readers:
            reader.join(timeout=60)
        cpu = cpu_seconds(relay.process.pid) - cpu_before
        delivered = sum(c[0] for c in counts)
        # the frames of a first read came before the clock started: not counted in the rate
        timed = delivered - sum(c[1] for c in counts)
        seconds = max(c[3] for c in counts) - min(c[2] for c in counts)
        return timed / max(seconds, 1e-9), cpu / max(delivered, 1), consumers * frames - delivered
    finally:
        relay.kill()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _consumers_connected(domain: str, runtime_dir: Path) -> int:
    return sum(c["role"] == RelayRole.Consumer
               for c in relay_stats(domain, runtime_dir=runtime_dir)["connections"])


async def _bare_relay(path: str, ready: Any) -> None:
    """Forwards what its producer writes to its consumer, 64 KiB at a time; a client's first
    byte says which it is (C or P)."""
    consumer_writer: asyncio.StreamWriter | None = None
    consumer_joined = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal consumer_writer
        role = await reader.readexactly(1)
        if role == b"C":
            consumer_writer = writer
            consumer_joined.set()
            await reader.read()  # until the consumer leaves
            return
        await consumer_joined.wait()
        assert consumer_writer is not None
        while chunk := await reader.read(65536):
            consumer_writer.write(chunk)
            await consumer_writer.drain()

    server = await asyncio.start_unix_server(handle, path, limit=1 << 20)
    ready.set()
    async with server:
        await server.serve_forever()


def bare_round(frames: int) -> tuple[float, float, int]:
    directory = tempfile.mkdtemp(prefix="ap-bare-", dir="/tmp")
    path = os.path.join(directory, "bare.sock")
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    relay = fork.Process(target=lambda: asyncio.run(_bare_relay(path, ready)))
    relay.start()
    try:
        ready.wait(30)
        consumer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        consumer.connect(path)
        consumer.sendall(b"C")
        cpu_before = cpu_seconds(relay.pid)
        block = trade_block(BATCH_FRAMES)

        def feed() -> None:
            producer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            producer.connect(path)
            producer.sendall(b"P")
            for _ in range(frames // BATCH_FRAMES):
                producer.sendall(block)
            producer.close()

        writer = fork.Process(target=feed)
        writer.start()
        buffer = bytearray(4 << 20)
        total = first_read = consumer.recv_into(buffer)
        start = time.perf_counter()
        wanted = frames // BATCH_FRAMES * len(block)
        while total < wanted:
            got = consumer.recv_into(buffer)
            if not got:
                break
            total += got
        seconds = time.perf_counter() - start
        writer.join(timeout=60)
        cpu = cpu_seconds(relay.pid) - cpu_before
        consumer.close()
        # as for the relay's rows: the first read came before the clock started
        return (total - first_read) / 64 / seconds, cpu / frames, 0
    finally:
        relay.kill()
        relay.join()
        shutil.rmtree(directory, ignore_errors=True)


# ---- one-way latency ---------------------------------------------------------------------

def paced_producer(policy: DomainPolicy, count: int, rate: int, core: int | None) -> None:
    """``count`` Trades sent one by one with ``send``, ``rate`` a second, sleeping between
    sends (pacing.py); each carries the time it was encoded and sent in its header timestamp."""
    pin(core)
    instrument = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    encode = ap.Trade.encode
    with connect("market_data", "producer", config=policy, name="bench-paced",
                 source=ap.SourceType.BinanceCollector) as producer:
        pacer = Pacer(rate)
        for sequence in range(1, count + 1):
            pacer.wait()
            producer.send(encode(instrument_id=instrument, price=100, volume=1, side=1,
                                 sequence=sequence, source=ap.SourceType.BinanceCollector,
                                 timestamp=time.time_ns()))
        producer.finish()


def latency_consumer(policy: DomainPolicy, count: int, core: int | None, ready: Any,
                     result: Any) -> None:
    """The nanoseconds from each frame's send time to its arrival as a message view, and the
    frames/s that arrived."""
    pin(core)
    latencies = np.empty(count, dtype=np.int64)
    with connect("market_data", "consumer", config=policy, name="bench-latency") as consumer:
        ready.set()
        for index in range(count):
            message = consumer.recv(timeout=IDLE_SECONDS + 10)
            latencies[index] = time.time_ns() - message.header.timestamp
            if index == 0:
                first = time.perf_counter()
        rate = (count - 1) / max(time.perf_counter() - first, 1e-9)
    result.put((latencies, rate))


def latency_run(count: int, rate: int, busy_poll_us: int) -> tuple[np.ndarray, float, float]:
    """One-way latencies (ns) of ``count`` frames offered at ``rate`` frames/s, the rate
    achieved, and the relay's CPU seconds per frame. With ``busy_poll_us`` the relay polls
    without sleeping, pinned to a core of its own, the producer and the consumer (sleeping
    until bytes come) to the other, on a machine of two cores or more: a process that spins
    on a core it shares holds it for a scheduler slice, milliseconds, before one woken there
    runs (docs/relays.md)."""
    runtime_dir = Path(tempfile.mkdtemp(prefix="ap-latency-", dir="/tmp"))
    policy = default_policy("market_data", runtime_dir)
    changes = {"busy_poll_us": busy_poll_us} if busy_poll_us else {}
    relay = RelayProcess("market_data", runtime_dir, **changes).wait_ready()
    relay_core, client_core = (1, 0) if busy_poll_us else (None, None)
    try:
        if relay_core is not None and len(os.sched_getaffinity(0)) >= 2:
            os.sched_setaffinity(relay.process.pid, {sorted(os.sched_getaffinity(0))[relay_core]})
        fork = multiprocessing.get_context("fork")
        ready, result = fork.Event(), fork.Queue()
        reader = fork.Process(target=latency_consumer,
                              args=(policy, count, client_core, ready, result))
        reader.start()
        ready.wait(30)
        while _consumers_connected("market_data", runtime_dir) < 1:
            time.sleep(0.01)
        cpu_before = cpu_seconds(relay.process.pid)
        writer = fork.Process(target=paced_producer, args=(policy, count, rate, client_core))
        writer.start()
        latencies, achieved = result.get(timeout=600)
        cpu = cpu_seconds(relay.process.pid) - cpu_before
        writer.join(timeout=60)
        reader.join(timeout=60)
        return latencies, achieved, cpu / count
    finally:
        relay.kill()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def histogram(latencies_us: np.ndarray, width: int = 50) -> list[str]:
    """A text histogram on log-spaced buckets (1, 2, 5 per decade) of microseconds."""
    top = float(latencies_us.max())
    edges, decade = [0.0], 1.0
    while edges[-1] < top:
        for step in (1, 2, 5):
            if edges[-1] < top:
                edges.append(step * decade)
        decade *= 10
    counts, _ = np.histogram(latencies_us, bins=edges)
    lines = []
    for low, high, n in zip(edges, edges[1:], counts):
        bar = "#" * round(width * n / counts.max()) if n else ""
        lines.append(f"  {low:>11,.0f} - {high:<11,.0f} us {n:>9,} {100 * n / len(latencies_us):>6.2f}%  {bar}")
    return lines


def print_latency(count: int, rate: int, busy_poll_us: int) -> None:
    for busy in (0, busy_poll_us) if busy_poll_us else (0,):
        latencies, achieved, cpu = latency_run(count, rate, busy)
        warm = latencies[min(len(latencies) // 10, 1000):]  # the first frames warm caches and the relay
        in_us = warm / 1000.0
        marks = {"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}
        figures = ", ".join(f"{name} {np.percentile(in_us, q):.1f}" for name, q in marks.items())
        if not busy:
            how = "relay and consumer sleeping until bytes come (the default)"
        elif len(os.sched_getaffinity(0)) >= 2:
            how = (f"the relay busy-polling (busy_poll_us {busy:,}) pinned to one core, the"
                   " producer and the consumer to the other")
        else:
            how = f"the relay busy-polling (busy_poll_us {busy:,}), nothing pinned (one core)"
        print(f"\nOne-way latency producer -> relay -> consumer, market-data policy, single-frame"
              f" send, {rate:,} frames/s offered ({achieved:,.0f} achieved), {len(warm):,} frames"
              f" after {len(latencies) - len(warm):,} of warm-up; send time in the header"
              f" timestamp (taken before encoding), arrival after recv() returns its view; {how}:")
        print(f"  us: {figures}, max {in_us.max():.1f}; relay CPU ns/frame {cpu * 1e9:.1f}")
        print("\n".join(histogram(in_us)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4_000_000,
                        help="frames per round of the batched rows (single-frame rows: 1/8 of it)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-frames", type=int, default=250_000)
    parser.add_argument("--rate", type=int, default=50_000, help="frames/s offered in the latency run")
    parser.add_argument("--quick", action="store_true",
                        help="small counts and one round: proves the script runs, measures nothing")
    parser.add_argument("--busy-poll-us", type=int, default=1000,
                        help="the relay's busy_poll_us in the second latency run (0: no second run)")
    parser.add_argument("--latency-only", action="store_true",
                        help="the one-way latency run alone, without the throughput rows")
    options = parser.parse_args()
    if options.quick:
        options.frames, options.rounds, options.latency_frames = 65_536, 1, 2_000
    if options.latency_only:
        print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
        print_latency(options.latency_frames, options.rate, options.busy_poll_us)
        return
    frames = options.frames // BATCH_FRAMES * BATCH_FRAMES
    single = frames // 8
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f};"
          f" {frames:,} frames of 64 bytes per round of the batched rows, {single:,} of the"
          f" single-frame rows; {options.rounds} rounds, median")
    nats = server_binary()
    rows: list[tuple[str, str, Callable[[], tuple[float, float, int]]]] = [
        ("bare", "bare asyncio relay, 64 KiB chunks", lambda: bare_round(frames)),
        ("market", "relay, market-data policy, recv_bytes", lambda: relay_round("market_data", frames, {}, False)),
        ("market batch", "relay, market-data policy, recv_batch", lambda: relay_round("market_data", frames, {})),
        ("execution", "relay, execution policy, recv_bytes", lambda: relay_round("market_data", frames, EXECUTION_POLICY, False)),
        ("execution batch", "relay, execution policy, recv_batch", lambda: relay_round("market_data", frames, EXECUTION_POLICY)),
        ("fan-out", "relay, market-data, 4 consumers, recv_bytes", lambda: relay_round("market_data", frames, {}, False, consumers=4)),
        ("relay 64", "relay, market-data, send_batch of 64", lambda: relay_round("market_data", frames, {}, False, batch=64)),
        ("relay 1", "relay, market-data, single-frame send", lambda: relay_round("market_data", single, {}, False, batch=1)),
        ("relay 64 gathered", "same, send_batch of 64, batch_bytes 64 KiB", lambda: relay_round("market_data", frames, {}, False, batch=64, batch_bytes=GATHERED)),
        ("relay 1 gathered", "same, single-frame send, batch_bytes 64 KiB", lambda: relay_round("market_data", single, {}, False, batch=1, batch_bytes=GATHERED)),
    ]
    if nats:
        rows += [("nats 64", "nats-server + nats-py, 64 frames/message", lambda: nats_round(frames, 64, cpu_seconds)),
                 ("nats 1", "nats-server + nats-py, 1 frame/message", lambda: nats_round(single, 1, cpu_seconds))]
    rates: dict[str, float] = {}
    print(f"{'row':<44} {'frames/s':>14} {'x bare':>8} {'server CPU ns/frame':>20} {'lost':>6}")
    for key, name, run in rows:
        results = [run() for _ in range(options.rounds)]
        rates[key] = rate = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        lost = sum(r[2] for r in results)
        print(f"{name:<44} {rate:>14,.0f} {rate / rates['bare']:>8.2f} {cpu * 1e9:>20.1f} {lost:>6,}")
    print("(frames/s: deliveries summed over the consumers; CPU: the relay's, or nats-server's,"
          " per frame delivered, from /proc in 10 ms ticks; lost: frames sent but not delivered,"
          " over all rounds)")
    print(f"4 consumers / 1 consumer, market-data recv_bytes: {rates['fan-out'] / rates['market']:.2f}x")
    if nats:
        print(f"relay / nats, 64 frames per message: {rates['relay 64'] / rates['nats 64']:.2f}x"
              f" (each send written at once), {rates['relay 64 gathered'] / rates['nats 64']:.2f}x"
              " (gathered into 64 KiB writes, as nats-py does)")
        print(f"relay / nats, 1 frame per message:   {rates['relay 1'] / rates['nats 1']:.2f}x"
              f" (each send written at once), {rates['relay 1 gathered'] / rates['nats 1']:.2f}x"
              " (gathered into 64 KiB writes, as nats-py does)")
    else:
        print("nats-server is not installed (not on PATH nor in /usr/sbin): the rows against"
              " NATS are skipped")
    print_latency(options.latency_frames, options.rate, options.busy_poll_us)


if __name__ == "__main__":
    main()
