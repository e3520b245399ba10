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
from pathlib import Path

import pytest

READY_TIMEOUT = 15.0
# a server that cannot bind its port exits at once: alive this long after it first answered,
# the answer was its own and not another process's on that port
SETTLE_SECONDS = 0.1
PORT_TRIES = 5


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


def start_nats(directory: Path, name: str = "n", cluster_port: int | None = None,
               routes: list[int] | None = None, port: int | None = None) -> Server:
    store = directory / f"nats-{name}"
    store.mkdir(parents=True, exist_ok=True)

    def start(port: int) -> Server:
        args = [binary("nats-server"), "-js", "-sd", str(store), "-p", str(port),
                "-a", "127.0.0.1", "-n", name]
        if cluster_port is not None:
            args += ["--cluster_name", "alphapulse",
                     "--cluster", f"nats://127.0.0.1:{cluster_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in routes or [])]
        return Server(args, port, f"nats://127.0.0.1:{port}", directory / f"nats-{name}.log",
                      b"", b"INFO")

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
    """`size` NATS servers with JetStream, routed to each other on loopback."""
    cluster_ports = [free_port() for _ in range(size)]
    servers: list[Server] = []
    try:
        for i in range(size):
            servers.append(start_nats(directory, f"n{i}", cluster_ports[i],
                                      [p for j, p in enumerate(cluster_ports) if j != i]))
        yield servers
    finally:
        for server in servers:
            server.stop()
