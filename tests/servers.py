"""Real NATS and Redis servers for the transport tests: each started on a free loopback port
with its data in a temporary directory, waited for until it answers, and killed at the end.
A test that needs a server the machine lacks is skipped, saying which binary is missing."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TypeVar
from pathlib import Path

import pytest

READY_TIMEOUT = 15.0
# a server that cannot bind its port exits at once: alive this long after it first answered,
# the answer was its own and not another process's on that port
SETTLE_SECONDS = 0.1
PORT_TRIES = 5
T = TypeVar("T")


class ServerExited(RuntimeError):
    """The server process ended while starting (its port taken, most often)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                  else None)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs the Debian package {name})")
    return path


def _wait_ready(process: subprocess.Popen[bytes], port: int, probe: bytes, answer: bytes,
                log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"server on port {port} exited ({process.returncode}):"
                               f" {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                if probe:
                    sock.sendall(probe)
                answered = answer in sock.recv(4096)
        except OSError:
            answered = False
        if answered:
            time.sleep(SETTLE_SECONDS)
            if process.poll() is None:
                return
            continue  # reported as exited at the loop's top
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not ready within {READY_TIMEOUT} s:"
                       f" {log.read_text(errors='replace')[-2000:]}")


class Server:
    """One server process: `url` to connect to, `stop()` to kill it (idempotent)."""

    def __init__(self, args: list[str], port: int, url: str, log: Path, probe: bytes,
                 answer: bytes) -> None:
        self.port, self.url, self.log = port, url, log
        self.cluster_port: int | None = None  # where a NATS cluster's node takes routes
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        try:
            _wait_ready(self.process, port, probe, answer, log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log_file.close()


def _on_a_port(start: Callable[[int], Server], port: int | None) -> Server:
    """``start(port)``; without a port, on a free one, and on another when the server exits
    while starting: a port is free when probed, and another process (a test worker beside
    this one, an outgoing connection) may take it before the server binds it."""
    if port is not None:
        return start(port)
    for _ in range(PORT_TRIES - 1):
        with contextlib.suppress(ServerExited):
            return start(free_port())
    return start(free_port())


def restarted_on(port: int, start: Callable[[], T]) -> T:
    """``start()`` of a server again on the ``port`` it was stopped on; the test is skipped if
    another process took the port in between (an outgoing connection may be given any free
    port), as no test can restart a server on a port it does not hold."""
    try:
        return start()
    except RuntimeError as error:  # ServerExited, or a relay's exit
        if "address already in use" not in str(error).lower():
            raise
        pytest.skip(f"port {port} was taken by another process before the restart: {error}")


def start_nats(directory: Path, name: str = "n", routes: list[int] | None = None,
               port: int | None = None) -> Server:
    """nats-server with JetStream; with ``routes`` (the route ports of the nodes started before
    it, none for the first), a node of a cluster, listening for routes on a free port of its
    own, found again with the client port when the server could not bind them."""
    store = directory / f"nats-{name}"
    store.mkdir(parents=True, exist_ok=True)

    def start(port: int) -> Server:
        args = [binary("nats-server"), "-js", "-sd", str(store), "-p", str(port),
                "-a", "127.0.0.1", "-n", name]
        cluster_port = None
        if routes is not None:
            cluster_port = free_port()
            # JetStream wants routes configured, the first node's too: a route to itself,
            # which the server knows for its own and drops
            args += ["--cluster_name", "alphapulse", "--cluster", f"nats://127.0.0.1:{cluster_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in routes or [cluster_port])]
        server = Server(args, port, f"nats://127.0.0.1:{port}", directory / f"nats-{name}.log",
                        b"", b"INFO")
        server.cluster_port = cluster_port
        return server

    return _on_a_port(start, port)


def start_redis(directory: Path, port: int | None = None) -> Server:
    store = directory / "redis"
    store.mkdir(parents=True, exist_ok=True)

    def start(port: int) -> Server:
        args = [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(store)]
        return Server(args, port, f"redis://127.0.0.1:{port}", directory / "redis.log",
                      b"PING\r\n", b"PONG")

    return _on_a_port(start, port)


@contextlib.contextmanager
def nats_cluster(directory: Path, size: int = 3) -> Iterator[list[Server]]:
    """`size` NATS servers with JetStream on loopback, each routed to those started before it:
    the servers tell each other of the rest, so that every one is routed to every other."""
    servers: list[Server] = []
    try:
        for i in range(size):
            servers.append(start_nats(directory, f"n{i}", [s.cluster_port for s in servers
                                                          if s.cluster_port is not None]))
        yield servers
    finally:
        for server in servers:
            server.stop()
