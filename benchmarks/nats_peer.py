"""What a service would install instead of a relay: nats-server with the nats-py client, one
publisher process and one subscriber process, carrying our 64-byte frames ``per_message`` at
a time in each NATS message. Used by relay.py for its rows against NATS."""
from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

SUBJECT = "alphapulse.bench"
IDLE_SECONDS = 3.0  # a subscriber that gets nothing this long after its first frame stops
FRAME_BYTES = 64


def server_binary() -> str | None:
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


async def _subscribe(url: str, frames: int, ready: Any, result: Any) -> None:
    import nats

    client = await nats.connect(url, allow_reconnect=False)
    received = 0
    first = last = 0.0

    async def take(message: Any) -> None:
        nonlocal received, first, last
        if not received:
            first = time.perf_counter()
        received += len(message.data) // FRAME_BYTES
        last = time.perf_counter()

    # room for the whole run, so the client itself never drops a message as a slow consumer
    await client.subscribe(SUBJECT, cb=take, pending_msgs_limit=frames + 1,
                           pending_bytes_limit=frames * FRAME_BYTES * 2 + (1 << 20))
    await client.flush()
    ready.set()
    seen = -1
    while received < frames:
        await asyncio.sleep(0.05 if received else 0.01)
        if received and received == seen and time.perf_counter() - last > IDLE_SECONDS:
            break  # the server dropped the rest (a slow consumer to it)
        seen = received
    await client.close()
    result.put((received, first, last))


async def _publish(url: str, frames: int, per_message: int) -> None:
    import nats

    client = await nats.connect(url, allow_reconnect=False)
    payload = bytes(FRAME_BYTES * per_message)
    for _ in range(frames // per_message):
        await client.publish(SUBJECT, payload)
    await client.flush(timeout=60)
    await client.close()


def nats_round(frames: int, per_message: int,
               cpu_seconds: Callable[[int], float]) -> tuple[float, float, int]:
    """Frames/s delivered to the subscriber, nats-server's CPU seconds per frame delivered,
    and the frames sent but not delivered (dropped by the server, to a slow consumer)."""
    binary = server_binary()
    if binary is None:
        raise FileNotFoundError("nats-server")
    directory = tempfile.mkdtemp(prefix="ap-nats-", dir="/tmp")
    port = _free_port()
    server = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port)], cwd=directory,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not listen on port {port}")
            time.sleep(0.02)
        url = f"nats://127.0.0.1:{port}"
        frames = frames // per_message * per_message
        fork = multiprocessing.get_context("fork")
        ready, result = fork.Event(), fork.Queue()
        subscriber = fork.Process(target=lambda: asyncio.run(_subscribe(url, frames, ready, result)))
        subscriber.start()
        ready.wait(30)
        cpu_before = cpu_seconds(server.pid)
        publisher = fork.Process(target=lambda: asyncio.run(_publish(url, frames, per_message)))
        publisher.start()
        received, first, last = result.get(timeout=600)
        cpu = cpu_seconds(server.pid) - cpu_before
        publisher.join(timeout=60)
        subscriber.join(timeout=60)
        return received / max(last - first, 1e-9), cpu / max(received, 1), frames - received
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(directory, ignore_errors=True)
