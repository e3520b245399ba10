"""Throughput of a domain relay: 1 producer -> relay -> 1 consumer, 64-byte Trades, batch APIs.

The relay, the producer (send_batch of 1024 frames) and the consumer each run in their own
process. Rows, in one run: a bare asyncio Unix-socket relay that forwards whole 64 KiB chunks
and looks at nothing, to a consumer that only counts bytes (the ceiling); then the relay with
the market-data policy and with the execution policy (checksums and sequences checked,
sequences stamped by the producer, producers blocked by a full consumer), each to a consumer
taking whole frames (recv_bytes) and to one decoding them into arrays (recv_batch, checksums
verified). Printed: frames/s delivered (median of the rounds), the ratio to the bare relay,
and the relay's CPU time per frame (user + system, from /proc).

    python benchmarks/relay.py [--frames 4000000] [--rounds 3]      (make bench runs it)
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
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package and test helpers

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.relay import connect  # noqa: E402
from peers import cpu_model  # noqa: E402
from relays import RelayProcess  # noqa: E402

BATCH_FRAMES = 1024  # 64 KiB of 64-byte Trades per send_batch
# the execution relay's policy, on the relay of the 64-byte Trades
EXECUTION_POLICY = {"validate_checksums": True, "require_sequence": True, "overflow": "block",
                    "max_queue_size": 10_000, "circuit_breaker": 8_000}


def trade_block(count: int) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = ap.SourceType.BinanceCollector
    rows["header"]["sequence"] = np.arange(1, count + 1)
    rows["price"] = 100
    rows["volume"] = 1
    rows["side"] = 1
    return ap.encode_batch(rows)


def produce(domain: str, runtime_dir: str, frames: int, auto: bool) -> None:
    block = trade_block(BATCH_FRAMES)
    with connect(domain, "producer", runtime_dir=runtime_dir, name="bench-producer",
                 source=ap.SourceType.BinanceCollector,
                 sequence="auto" if auto else None) as producer:
        for _ in range(frames // BATCH_FRAMES):
            producer.send_batch(block)


def consume(domain: str, runtime_dir: str, frames: int, decoded: bool) -> float:
    """Seconds from the first frame received to the last: decoded into arrays by
    ``recv_batch``, or taken as whole frames by ``recv_bytes``."""
    with connect(domain, "consumer", runtime_dir=runtime_dir, name="bench-consumer") as consumer:
        if decoded:
            def take() -> int:
                return len(consumer.recv_batch(max_frames=65536))
        else:
            def take() -> int:
                return len(consumer.recv_bytes(max_frames=65536)) // 64
        received = take()
        start = time.perf_counter()
        while received < frames:
            received += take()
        return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_round(domain: str, frames: int, changes: dict, decoded: bool = True) -> tuple[float, float]:
    runtime_dir = Path(tempfile.mkdtemp(prefix="ap-bench-", dir="/tmp"))
    relay = RelayProcess(domain, runtime_dir, **changes).wait_ready()
    try:
        fork = multiprocessing.get_context("fork")
        consumer_ready = connect(domain, "consumer", runtime_dir=runtime_dir)  # warm the relay
        consumer_ready.close()
        cpu_before = cpu_seconds(relay.process.pid)
        result = fork.Queue()
        reader = fork.Process(target=lambda: result.put(consume(domain, str(runtime_dir), frames,
                                                                decoded)))
        reader.start()
        while not _consumers_connected(domain, runtime_dir):
            time.sleep(0.01)
        writer = fork.Process(target=produce, args=(domain, str(runtime_dir), frames,
                                                    bool(changes.get("require_sequence"))))
        writer.start()
        seconds = result.get(timeout=600)
        writer.join(timeout=60)
        reader.join(timeout=60)
        cpu = cpu_seconds(relay.process.pid) - cpu_before
        return frames / seconds, cpu / frames
    finally:
        relay.kill()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _consumers_connected(domain: str, runtime_dir: Path) -> bool:
    from alphapulse_codec.relay.client import relay_stats

    return any(c["role"] == 2 for c in relay_stats(domain, runtime_dir=runtime_dir)["connections"])


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


def bare_round(frames: int) -> tuple[float, float]:
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
        total = consumer.recv_into(buffer)
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
        return frames / seconds, cpu / frames
    finally:
        relay.kill()
        relay.join()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    frames = options.frames // BATCH_FRAMES * BATCH_FRAMES
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; {frames:,} frames of 64 bytes per round,"
          f" {options.rounds} rounds, median")
    rows = [
        ("bare asyncio relay, 64 KiB chunks", lambda: bare_round(frames)),
        ("relay, market-data policy, recv_bytes", lambda: relay_round("market_data", frames, {}, False)),
        ("relay, market-data policy, recv_batch", lambda: relay_round("market_data", frames, {})),
        ("relay, execution policy, recv_bytes", lambda: relay_round("market_data", frames, EXECUTION_POLICY, False)),
        ("relay, execution policy, recv_batch", lambda: relay_round("market_data", frames, EXECUTION_POLICY)),
    ]
    bare = None
    print(f"{'row':<42} {'frames/s':>14} {'x bare':>8} {'relay CPU ns/frame':>19}")
    for name, run in rows:
        results = [run() for _ in range(options.rounds)]
        rate = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        bare = bare or rate
        print(f"{name:<42} {rate:>14,.0f} {rate / bare:>8.2f} {cpu * 1e9:>19.1f}")


if __name__ == "__main__":
    main()
