"""Every transport behind the one client API, for the shared producer/consumer tests.

A transport is a class with ``behind_frames`` (how many frames a consumer that reads none
must be sent to fall behind), ``lacks`` (the domain policies the medium cannot apply, which
the tests of them skip, saying so) and ``open(domain, capacity)``, which starts what the transport needs
(a relay process, a ring file, a channel) with room for about ``capacity`` unread frames per
consumer (the medium's default when None) and returns (make_producer, make_consumer), and
``shed(consumer)``, the frames a consumer was told it lost because it fell behind; after
``open``, ``configured`` is (configuration document, keywords) that give ``ap.connect`` and
``ap.aio.connect`` the same domain's clients. Another transport is one class here and one entry
in TRANSPORTS.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relays import start
from servers import start_nats, start_redis

import alphapulse_codec as ap
from alphapulse_codec.relay import connect as relay_connect
from alphapulse_codec.relay import default_policy
from alphapulse_codec.transport import shm
from alphapulse_codec.transport.channel import Channel
from alphapulse_codec.transport.channel import connect as channel_connect
from alphapulse_codec.wire.enums import GapReason

FRAME_BYTES = 64  # of the frames the tests send; a ring is sized for them
Makers = tuple[Callable[..., Any], Callable[..., Any]]


def _shed_gaps(consumer: Any) -> int:
    return sum(g.frames_lost for g in consumer.gaps if g.reason == GapReason.Shed)


class UnixSocket:
    """The domain relay in its own process, clients over its Unix socket."""

    behind_frames = 40_000  # sent to a consumer that reads none: enough to fall behind
    lacks: tuple[str, ...] = ()

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.relays: list[Any] = []

    def open(self, domain: str, capacity: int | None = None) -> Makers:
        changes = {} if capacity is None else {"max_queue_size": 2 * capacity,
                                               "circuit_breaker": capacity}
        self.relays.append(start(domain, self.runtime_dir, **changes))
        self.configured = ({"alphapulse": {"runtime_dir": str(self.runtime_dir)}}, {})

        def make_producer(**options: Any) -> Any:
            return relay_connect(domain, "producer", runtime_dir=self.runtime_dir, **options)

        def make_consumer(**options: Any) -> Any:
            return relay_connect(domain, "consumer", runtime_dir=self.runtime_dir, **options)

        return make_producer, make_consumer

    shed = staticmethod(_shed_gaps)

    def close(self) -> None:
        for relay in self.relays:
            relay.kill()


class TcpSocket(UnixSocket):
    """The domain relay in its own process, clients over TCP on loopback."""

    # the kernel's TCP buffers hold tens of MiB on loopback before the relay sees a backlog
    behind_frames = 1_000_000

    def open(self, domain: str, capacity: int | None = None) -> Makers:
        changes = {} if capacity is None else {"max_queue_size": 2 * capacity,
                                               "circuit_breaker": capacity}
        relay = start(domain, self.runtime_dir, ("--tcp", "127.0.0.1:0"), **changes)
        self.relays.append(relay)
        host, port = relay.address
        self.configured = ({"alphapulse": {"runtime_dir": str(self.runtime_dir), domain: {
            "transport": "tcp", "host": host, "port": port}}}, {})

        def make_producer(**options: Any) -> Any:
            return relay_connect(domain, "producer", address=relay.address, **options)

        def make_consumer(**options: Any) -> Any:
            return relay_connect(domain, "consumer", address=relay.address, **options)

        return make_producer, make_consumer


class SharedMemory:
    """A shared-memory ring file in the test's directory: lossy for a domain that sheds,
    backpressure for one that makes producers wait."""

    behind_frames = 40_000
    # a ring's gaps are stretches of the ring, of any source: it follows no source's numbering
    lacks: tuple[str, ...] = ("telling of a source's sequence jumps",)

    LOST_REASONS = (GapReason.Lapped,)

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.names = itertools.count()

    def open(self, domain: str, capacity: int | None = None) -> Makers:
        path = shm.ring_path(f"{domain}-{next(self.names)}", self.directory)
        policy = "lossy" if default_policy(domain, self.directory).overflow == "shed" \
            else "backpressure"
        size_mb = shm.DEFAULT_SIZE_MB if capacity is None else \
            max(2 ** math.ceil(math.log2(capacity * FRAME_BYTES)), 1 << 16) / (1 << 20)
        self.configured = ({"alphapulse": {domain: {"transport": "shared_memory",
                                                    "path": str(path), "size_mb": size_mb}}}, {})

        def make_producer(**options: Any) -> Any:
            return shm.Producer(path, size_mb=size_mb, policy=policy, **options)

        def make_consumer(**options: Any) -> Any:
            return shm.Consumer(path, size_mb=size_mb, policy=policy, **options)

        return make_producer, make_consumer

    @classmethod
    def shed(cls, consumer: Any) -> int:
        # the ring reports a Gap per lap, with no source: it cannot say whose frames
        return sum(g.frames_lost for g in consumer.gaps if g.reason in cls.LOST_REASONS)

    def close(self) -> None:
        for ring in self.directory.glob("*.ring"):
            shm.remove_ring(ring)


class InProcessChannel:
    """A channel of this process, of its own name for each test."""

    behind_frames = 40_000
    lacks: tuple[str, ...] = ()

    names = itertools.count()

    def __init__(self) -> None:
        self.channels: list[Channel] = []

    def open(self, domain: str, capacity: int | None = None) -> Makers:
        name = f"contract-{domain}-{next(self.names)}"
        self.channels.append(Channel.get(name, domain=domain, capacity=capacity))
        self.configured = ({"alphapulse": {domain: {"transport": "channel"}}}, {"channel": name})

        def make_producer(**options: Any) -> Any:
            return channel_connect(domain, "producer", channel=name, **options)

        def make_consumer(**options: Any) -> Any:
            return channel_connect(domain, "consumer", channel=name, **options)

        return make_producer, make_consumer

    shed = staticmethod(_shed_gaps)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


class Bus:
    """A real server of its own (tests/servers.py) for each test; clients through
    ``alphapulse_codec.connect`` with a configuration document naming the transport."""

    behind_frames = 40_000
    # what the medium cannot promise (docs/transports.md, "Policies per transport"): the
    # server keeps a slow consumer's messages (NATS, up to its pending limits) or trims the
    # stream whoever has read it (Redis), so neither sheds per source with a gap, nor holds
    # an execution producer back
    lacks = ("shedding a slow consumer with gaps", "holding producers back")

    def __init__(self, directory: Path, transport: str) -> None:
        self.directory = directory
        self.transport = transport
        self.servers: list[Any] = []
        self.names = itertools.count()

    def open(self, domain: str, capacity: int | None = None) -> Makers:
        if self.transport == "nats":
            server = start_nats(self.directory / f"nats-{next(self.names)}")
            section: dict[str, Any] = {"transport": "nats", "servers": [server.url],
                                       "subject_prefix": f"contract{next(self.names)}"}
        else:
            server = start_redis(self.directory / f"redis-{next(self.names)}")
            section = {"transport": "redis", "url": server.url}
        self.servers.append(server)
        if capacity is not None:
            section["capacity"] = capacity
        config = {"alphapulse": {domain: section}}
        self.configured = (config, {})

        def make_producer(**options: Any) -> Any:
            return ap.connect(domain, "producer", config=config, **options)

        def make_consumer(**options: Any) -> Any:
            return ap.connect(domain, "consumer", config=config, **options)

        return make_producer, make_consumer

    shed = staticmethod(_shed_gaps)

    def close(self) -> None:
        for server in self.servers:
            server.stop()


# transport name (as the configuration spells it) -> how a test gets it, given pytest's
# tmp_path-like directory for its files and sockets
TRANSPORTS: dict[str, Callable[[Path], Any]] = {
    "unix_socket": UnixSocket,
    "tcp": TcpSocket,
    "shared_memory": SharedMemory,
    "channel": lambda directory: InProcessChannel(),
    "nats": lambda directory: Bus(directory, "nats"),
    "redis": lambda directory: Bus(directory, "redis"),
}
