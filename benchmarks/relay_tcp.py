"""Throughput of one market-data relay over its Unix socket, over TCP on loopback, and over TLS
on loopback: 1 producer -> relay -> 1 consumer, 64-byte Trades, send_batch of 1024 frames,
recv_bytes. The relay, the producer and the consumer each run in their own process; the
producer and the consumer use the same transport in a row. Printed: frames/s delivered (median
of the rounds), the ratio to the Unix socket, and the relay's CPU time per frame (user +
system, from /proc).

    python benchmarks/relay_tcp.py [--frames 2000000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package and test helpers

from alphapulse_codec.relay import connect  # noqa: E402
from alphapulse_codec.relay.client import relay_stats  # noqa: E402
from alphapulse_codec.relay.tcp import client_context  # noqa: E402
from peers import cpu_model  # noqa: E402
from relays import RelayProcess  # noqa: E402
from workload import cpu_seconds, trade_block  # noqa: E402

BATCH_FRAMES = 1024  # 64 KiB of 64-byte Trades per send_batch


def route(runtime_dir: str, transport: str, address: Any, certificate: str) -> dict[str, Any]:
    """The connect() arguments of ``transport``; a TLS context is made in the process that
    uses it."""
    if transport == "unix":
        return {"runtime_dir": runtime_dir}
    if transport == "tcp":
        return {"address": address}
    return {"address": address, "tls": client_context(certificate)}


def produce(runtime_dir: str, transport: str, address: Any, certificate: str, frames: int) -> None:
    block = trade_block(BATCH_FRAMES)
    with connect("market_data", "producer", name="bench-producer",
                 **route(runtime_dir, transport, address, certificate)) as producer:
        for _ in range(frames // BATCH_FRAMES):
            producer.send_batch(block)


def consume(runtime_dir: str, transport: str, address: Any, certificate: str, frames: int
            ) -> tuple[int, float]:
    """The frames received after the first read, and the seconds they took."""
    with connect("market_data", "consumer", name="bench-consumer",
                 **route(runtime_dir, transport, address, certificate)) as consumer:
        received = first_read = len(consumer.recv_bytes()) // 64
        start = time.perf_counter()
        while received < frames:
            received += len(consumer.recv_bytes()) // 64
        return received - first_read, time.perf_counter() - start


def certificate_in(directory: Path) -> tuple[str, str]:
    certificate, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=bench",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(certificate)], check=True, capture_output=True)
    return str(certificate), str(key)


def one_round(transport: str, frames: int) -> tuple[float, float]:
    runtime_dir = Path(tempfile.mkdtemp(prefix="ap-bench-", dir="/tmp"))
    certificate, key = certificate_in(runtime_dir)
    options = {"unix": (), "tcp": ("--tcp", "127.0.0.1:0"),
               "tls": ("--tcp", "127.0.0.1:0", "--certfile", certificate, "--keyfile", key)}
    relay = RelayProcess("market_data", runtime_dir, options[transport]).wait_ready()
    try:
        fork = multiprocessing.get_context("fork")
        arguments = (str(runtime_dir), transport, relay.address, certificate, frames)
        cpu_before = cpu_seconds(relay.process.pid)
        result = fork.Queue()
        reader = fork.Process(target=lambda: result.put(consume(*arguments)))
        reader.start()
        while not any(c["role"] == 2 for c in
                      relay_stats("market_data", runtime_dir=runtime_dir)["connections"]):
            time.sleep(0.01)
        writer = fork.Process(target=produce, args=arguments)
        writer.start()
        timed, seconds = result.get(timeout=600)
        writer.join(timeout=60)
        reader.join(timeout=60)
        return timed / seconds, (cpu_seconds(relay.process.pid) - cpu_before) / frames
    finally:
        relay.kill()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    frames = options.frames // BATCH_FRAMES * BATCH_FRAMES
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; {frames:,} frames of 64 bytes per round,"
          f" {options.rounds} rounds, median")
    print(f"{'market-data relay, recv_bytes':<34} {'frames/s':>14} {'x unix':>8} {'relay CPU ns/frame':>19}")
    unix = None
    for transport, name in (("unix", "Unix socket"), ("tcp", "TCP, loopback"),
                            ("tls", "TLS over TCP, loopback")):
        results = [one_round(transport, frames) for _ in range(options.rounds)]
        rate = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        unix = unix or rate
        print(f"{name:<34} {rate:>14,.0f} {rate / unix:>8.2f} {cpu * 1e9:>19.1f}")


if __name__ == "__main__":
    main()
