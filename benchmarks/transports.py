"""The transports side by side, 64-byte Trades: frames delivered per second from one producer
to one consumer (a process of its own, decoding every frame with recv_batch, checksums
checked), with the network buses' own servers started on loopback for the run.

    python benchmarks/transports.py [--frames 1000000] [--batch 4096] [--repeat 3]

Rows (median of `--repeat` runs):
- NATS, 1 -> 1 delivered, frames batched (`--batch` frames per NATS message);
- NATS publish: our Producer.send_batch + flush against bare nats-py publishing the same
  payloads (the same bytes, cut the same way) + flush: the ratio is our layer's cost;
- NATS JetStream publish, acknowledgements collected in batches (frames/s acknowledged);
- Redis Streams, 1 -> 1 delivered, frames batched (`--batch` frames per entry).
Targets: NATS delivered >= 1,500,000 frames/s, our NATS publish <= 1.2x the time of bare
nats-py, JetStream >= 200,000 frames/s, Redis Streams delivered >= 500,000 frames/s.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from peers import cpu_model  # noqa: E402
from servers import start_nats, start_redis  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.transport import nats as nats_bus  # noqa: E402
from alphapulse_codec.transport import redis_streams as redis_bus  # noqa: E402

CTX = multiprocessing.get_context("fork")
GUARD = 120.0  # seconds: a consumer that never finishes ends the row


def trades(count: int, first: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = int(ap.SourceType.AlpacaCollector)
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["instrument_id"]["venue"] = int(ap.VenueId.NASDAQ)
    rows["instrument_id"]["asset_type"] = int(ap.AssetType.Stock)
    rows["price"] = 189_250_000
    rows["volume"] = 100
    return ap.encode_batch(rows, ap.MessageType.Trade)


def consume(connect, frames, ready, done):
    with connect() as consumer:
        ready.set()
        got = 0
        deadline = time.perf_counter() + GUARD
        while got < frames and time.perf_counter() < deadline:
            got += len(consumer.recv_batch(timeout=1.0))
        done.put((time.perf_counter(), got, consumer.frames_lost))


def delivered(make_consumer, make_producer, frames: int, batch: int) -> tuple[float, int]:
    """Frames/s from the first send to the consumer's last frame; and frames it lost."""
    payloads = [trades(batch, first) for first in range(1, frames + 1, batch)]
    ready, done = CTX.Event(), CTX.Queue()
    process = CTX.Process(target=consume, args=(make_consumer, frames, ready, done))
    process.start()
    ready.wait(GUARD)
    with make_producer() as producer:
        start = time.perf_counter()
        for payload in payloads:
            producer.send_batch(payload)
        producer.flush()
        end, got, lost = done.get(timeout=GUARD)
    process.join(GUARD)
    if got < frames:
        raise RuntimeError(f"the consumer got {got} of {frames} frames")
    return frames / (end - start), lost


def our_publish(url: str, payloads: list[bytes], batch: int) -> float:
    with nats_bus.Producer("bench", servers=url, batch_frames=batch,
                           batch_bytes=batch * 64) as producer:
        start = time.perf_counter()
        for payload in payloads:
            producer.send_batch(payload)
        producer.flush()
        return time.perf_counter() - start


def bare_publish(url: str, payloads: list[bytes], batch: int) -> float:
    import nats

    async def run() -> float:
        connection = await nats.connect(url)
        start = time.perf_counter()
        for payload in payloads:
            await connection.publish("alphapulse.bench.Trade", payload)
        await connection.flush()
        elapsed = time.perf_counter() - start
        await connection.close()
        return elapsed

    return asyncio.run(run())


def jetstream_publish(url: str, frames: int, batch: int) -> float:
    payloads = [trades(batch, first) for first in range(1, frames + 1, batch)]
    with nats_bus.Producer("bench_js", servers=url, jetstream=True,
                           batch_frames=batch, batch_bytes=batch * 64) as producer:
        start = time.perf_counter()
        for payload in payloads:
            producer.send_batch(payload)
        producer.flush()  # every acknowledgement in
        return frames / (time.perf_counter() - start)


def row(name: str, figures: list[float], target: str) -> None:
    print(f"{name:<58} {statistics.median(figures):>14,.0f}   {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}")
    print(f"{args.frames:,} Trades of 64 bytes, {args.batch} frames per message, median of"
          f" {args.repeat}")
    batch_bytes = args.batch * 64
    with tempfile.TemporaryDirectory() as directory:
        nats_server = start_nats(Path(directory))
        redis_server = start_redis(Path(directory))
        try:
            url = nats_server.url
            figures = [delivered(
                lambda: nats_bus.Consumer("bench", servers=url),
                lambda: nats_bus.Producer("bench", servers=url, batch_frames=args.batch,
                                          batch_bytes=batch_bytes),
                args.frames, args.batch)[0] for _ in range(args.repeat)]
            row("NATS 1 -> 1 delivered (frames/s)", figures, ">= 1,500,000")

            payloads = [trades(args.batch, first)
                        for first in range(1, args.frames + 1, args.batch)]
            ours = [our_publish(url, payloads, args.batch) for _ in range(args.repeat)]
            bare = [bare_publish(url, payloads, args.batch) for _ in range(args.repeat)]
            row("NATS publish, our Producer (frames/s)",
                [args.frames / t for t in ours], "")
            row("NATS publish, bare nats-py, same bytes (frames/s)",
                [args.frames / t for t in bare], "")
            print(f"{'NATS publish time, ours / bare nats-py':<58}"
                  f" {statistics.median(ours) / statistics.median(bare):>14.2f}x  <= 1.2x")

            figures = [jetstream_publish(url, args.frames, args.batch)
                       for _ in range(args.repeat)]
            row("NATS JetStream publish, acks batched (frames/s)", figures, ">= 200,000")

            redis_url = redis_server.url
            figures = [delivered(
                lambda: redis_bus.Consumer("bench", url=redis_url),
                lambda: redis_bus.Producer("bench", url=redis_url, batch_frames=args.batch,
                                           batch_bytes=batch_bytes,
                                           max_queue_size=4 * args.frames),
                args.frames, args.batch)[0] for _ in range(args.repeat)]
            row("Redis Streams 1 -> 1 delivered (frames/s)", figures, ">= 500,000")
        finally:
            nats_server.stop()
            redis_server.stop()


if __name__ == "__main__":
    main()
