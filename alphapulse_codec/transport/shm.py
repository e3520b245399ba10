"""Producers and consumers over a shared-memory ring: a broadcast ring in a memory-mapped file
between the processes of one machine (the C core is _c/ring.c; docs/transports.md, "Shared
memory", gives its layout and guarantees).

    with Producer(ring_path("market_data"), size_mb=64) as producer:
        producer.send(trade)                        # a message or one sealed frame
        producer.send_batch(ap.encode_batch(rows))  # many frames, one claim per block
    with Consumer(ring_path("market_data"), size_mb=64, types=["Trade"]) as consumer:
        message = consumer.recv(timeout=1.0)        # one message, decoded from a copy
        result = consumer.recv_batch(max_frames=4096)
        consumer.gaps                               # what this consumer lost, and why

Policies: "lossy" (market data: producers never wait; a consumer a lap behind skips to the
newest record and gets a gap report) and "backpressure" (execution: producers wait for the
slowest registered consumer). Waiting strategies: "spin", "yield", "sleep" (a futex).
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..capture.batch import BatchResult, decode_batch
from ..relay import sendable
from ..relay.frames import mask
from ..relay.client import Gap
from ..wire._codec import Message
from ..wire.errors import FieldValueError, RelayClosedError
from ._ring import RingConsumer, RingProducer

POLICIES = {"lossy": 0, "backpressure": 1}
WAITS = {"spin": 0, "yield": 1, "sleep": 2}
DEFAULT_SIZE_MB = 16
DEFAULT_STALL_TIMEOUT = 1.0  # seconds an uncommitted claim of a live producer is waited for


def ring_path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Where the ring `name` lives: `directory`, else /dev/shm, else $XDG_RUNTIME_DIR/alphapulse,
    else the temporary directory's alphapulse folder (created 0700)."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise FieldValueError(f"name: ring name {name!r}, expected a plain file name",
                              field="name")
    if directory is None:
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            directory = "/dev/shm"
        else:
            runtime = os.environ.get("XDG_RUNTIME_DIR")
            directory = os.path.join(runtime or tempfile.gettempdir(), "alphapulse")
            os.makedirs(directory, mode=0o700, exist_ok=True)
    return Path(directory) / f"{name}.ring"


def remove_ring(path: str | os.PathLike[str]) -> None:
    """Removes a ring file; processes that have it open keep their mapping."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _capacity(size_mb: float | None) -> int:
    if size_mb is None:
        return 0
    expected = "expected a power of two of bytes between 64 KiB (0.0625) and 64 GiB (65536)"
    if isinstance(size_mb, bool) or not isinstance(size_mb, (int, float)):
        raise FieldValueError(f"size_mb: {size_mb!r}, {expected}", field="size_mb")
    # inf and nan are numbers to YAML (.inf, .nan): refused here, not by int()
    finite = math.isfinite(size_mb)
    capacity = int(size_mb * (1 << 20)) if finite else 0
    if not finite or size_mb <= 0 or capacity != size_mb * (1 << 20) or capacity & (capacity - 1) \
            or not (1 << 16) <= capacity <= (1 << 36):
        raise FieldValueError(f"size_mb: {size_mb}, {expected}", field="size_mb")
    return capacity


def _choice(name: str, value: str | None, choices: dict[str, int]) -> int:
    if value is None:
        return -1
    if value not in choices:
        raise FieldValueError(f"{name}: {value!r}, expected one of"
                              f" {', '.join(map(repr, choices))}", field=name)
    return choices[value]


class Producer:
    """Writes frames to a ring (created with `size_mb` and `policy` when absent). On a
    backpressure ring `send` waits for the slowest consumer, up to `timeout` seconds (None:
    forever), then raises BackpressureTimeout."""

    def __init__(self, path: str | os.PathLike[str], *, size_mb: float | None = DEFAULT_SIZE_MB,
                 policy: str | None = "lossy", wait: str = "yield",
                 timeout: float | None = None) -> None:
        self._ring = RingProducer(path, _capacity(size_mb), _choice("policy", policy, POLICIES),
                                  _choice("wait", wait, WAITS))
        self.path = Path(path)
        self.timeout = timeout

    @property
    def closed(self) -> bool:
        return bool(self._ring.closed)

    def _check_open(self, doing: str) -> None:
        if self._ring.closed:
            raise RelayClosedError(f"{self.path}: {doing} on a closed producer")

    def send(self, message: Message | bytes | bytearray | memoryview) -> None:
        """Writes one message, or the one sealed frame given as bytes."""
        # RelayClosedError once closed
        self._ring.send(sendable.one_frame(message), self.timeout, True)

    def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        """Writes every frame of `buffer` (sealed frames back to back, e.g. from encode_batch):
        all of them, or none when one is malformed. Returns the number of frames."""
        return int(self._ring.send(sendable.frames_buffer(buffer), self.timeout))

    def flush(self) -> list[Any]:
        """Nothing to do: a frame is in the ring, visible to consumers, when send returns;
        nothing answers, so the list of answers is empty."""
        self._check_open("flush")
        return []

    @property
    def capacity(self) -> int:
        return int(self._ring.capacity)

    def close(self) -> None:
        self._ring.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Consumer:
    """Reads a ring from the position it had when opened, on its own: other consumers neither
    slow it nor see what it reads. `types` and `sources` subscribe (numbers, enum members or
    names; None: all), filtered in C. `wait` chooses how to wait for frames; an uncommitted
    claim of a live producer is waited for `stall_timeout` seconds, then skipped (reported)."""

    def __init__(self, path: str | os.PathLike[str], *, size_mb: float | None = DEFAULT_SIZE_MB,
                 policy: str | None = "lossy", types: Iterable[int | str] | None = None,
                 sources: Iterable[int | str] | None = None, wait: str = "sleep",
                 stall_timeout: float = DEFAULT_STALL_TIMEOUT, verify: bool = True) -> None:
        if isinstance(stall_timeout, bool) or not isinstance(stall_timeout, (int, float)) \
                or not stall_timeout > 0:
            raise FieldValueError(f"stall_timeout: {stall_timeout!r}, expected seconds > 0",
                                  field="stall_timeout")
        self._ring = RingConsumer(path, _capacity(size_mb), _choice("policy", policy, POLICIES),
                                  _choice("wait", wait, WAITS), float(stall_timeout),
                                  mask(types, "types"), mask(sources, "sources"))
        self.path = Path(path)
        self.verify = verify

    @property
    def closed(self) -> bool:
        return bool(self._ring.closed)

    def _check_open(self, doing: str) -> None:
        if self._ring.closed:
            raise RelayClosedError(f"{self.path}: {doing} on a closed consumer")

    def recv(self, timeout: float | None = None) -> Message:
        """The next message (decoded from a copy: producers lapping the ring cannot touch it);
        RelayTimeoutError (a TimeoutError, as the relay clients raise) when none came within
        `timeout` seconds."""
        return self._ring.recv(timeout, self.verify)  # RelayClosedError once closed

    def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytearray:
        """Up to `max_frames` frames as their wire bytes, back to back, in a buffer of their
        own (empty when none came within `timeout`): for passing on without decoding."""
        return self._ring.read_frames(max_frames, timeout)  # type: ignore[no-any-return]

    def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                   verify: bool | None = None) -> BatchResult:
        """Up to `max_frames` frames decoded by decode_batch (an empty result when none came
        within `timeout`); `verify` (the consumer's when None) checks their checksums."""
        self._check_open("recv_batch")
        return decode_batch(self._ring.read_frames(max_frames, timeout),
                            self.verify if verify is None else verify)

    def __iter__(self) -> Iterator[Message]:
        while True:  # ends when closed, by another thread while it waits included
            try:
                yield self.recv()
            except RelayClosedError:
                return

    @property
    def gaps(self) -> list[Gap]:
        """What this consumer lost (the newest 1,024), oldest first: Gaps whose ``first`` is the
        ring position where it stood and ``last`` the one it went on from (see Gap);
        ``frames_lost`` and ``bytes_lost`` count every loss; still told once closed."""
        return [Gap(None, reason, position, position + size, frames, True)
                for reason, position, size, frames in self._ring.gaps()]

    @property
    def frames_lost(self) -> int:
        return int(self._ring.frames_lost)

    @property
    def bytes_lost(self) -> int:
        return int(self._ring.bytes_lost)

    @property
    def capacity(self) -> int:
        return int(self._ring.capacity)

    def close(self) -> None:
        self._ring.close()  # what it lost stays readable, as on every transport

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
