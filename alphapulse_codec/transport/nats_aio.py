"""NATS producers and consumers on the caller's own event loop (asyncio's or uvloop's), as
``aio.connect`` gives them for a nats domain: nats-py is asyncio natively, so nothing here
runs on another thread.

    async with await connect("market_data", "producer", servers=[...]) as producer:
        await producer.send_batch(ap.encode_batch(rows))
    async with await connect("market_data", "consumer", servers=[...]) as consumer:
        result = await consumer.recv_batch(timeout=1.0)

The same subjects, batching, checks, subscriptions, JetStream replay and gap reports as the
blocking clients of transport/nats.py, whose parts they share; a send publishes its messages
before it returns (nats-py queues them for its writer), a flush waits for the server (and
JetStream's acknowledgements).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from ..capture.batch import BatchResult, decode_batch
from ..wire._codec import Message, decode
from ..wire.errors import FieldValueError, RelayClosedError, RelayTimeoutError
from . import _bus
from .nats import (CONNECT_TIMEOUT, DEFAULT_PREFIX, FLUSH_TIMEOUT, RECONNECT_ATTEMPTS,
                   _Arrivals, _Events, _disconnect, _Outbox, _Publisher, _servers)


class AsyncProducer:
    """Publishes a domain's frames, batched per type, from the caller's loop."""

    def __init__(self, domain: str, *, servers: str | Iterable[str] | None = None,
                 subject_prefix: str = DEFAULT_PREFIX, jetstream: bool = False,
                 replicas: int = 1, max_queue_size: int | None = None,
                 batch_frames: int | None = None,
                 batch_bytes: int | None = None, name: str | None = None,
                 verify: bool = True, connect_timeout: float = CONNECT_TIMEOUT,
                 reconnect_attempts: int = RECONNECT_ATTEMPTS,
                 flush_timeout: float = FLUSH_TIMEOUT) -> None:
        self._outbox = _Outbox(domain, subject_prefix, batch_frames, batch_bytes, verify)
        self._outbox.servers = self.servers = _servers(servers)
        self.domain = self._outbox.domain
        self.jetstream = jetstream
        self.events = _Events()
        self._publisher = _Publisher(self.domain, self._outbox.prefix, self.servers, jetstream,
                                     self.events, flush_timeout)
        self._opening = (name, connect_timeout, reconnect_attempts, replicas, max_queue_size)

    async def _open(self) -> AsyncProducer:
        await self._publisher.open(*self._opening)
        self._outbox.max_payload = self._publisher.max_payload
        return self

    @property
    def closed(self) -> bool:
        return self._outbox.closed

    @property
    def frames_sent(self) -> int:
        return self._outbox.frames_sent

    @property
    def stream(self) -> str | None:
        return self._publisher.stream

    async def _publish_queued(self) -> None:
        if self._outbox.messages:
            await self._publisher.publish_all(self._outbox.take())

    async def send(self, message: Message | bytes | bytearray | memoryview) -> None:
        """Sends one message (or one frame's bytes, checked); with a batch size given it waits
        for its type's batch to fill, or for flush."""
        self._outbox.send(message)
        await self._publish_queued()

    async def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        """Publishes every frame of `buffer` (all, or none when one is malformed: a ParseError
        gives its byte offset). Returns the number of frames."""
        try:
            return self._outbox.send_batch(buffer)
        finally:  # what was cut before a refusal (a message over max_payload) goes too
            await self._publish_queued()

    async def flush(self) -> list[Any]:
        """Sends every queued frame and waits until the server has them (and JetStream's
        acknowledgements). Returns [] (a bus answers no ErrorReports; refusals raise)."""
        self._outbox.flush()
        await self._publish_queued()
        await self._publisher.finish()
        return []

    async def close(self) -> None:
        if self.closed:
            return
        try:
            await self.flush()
        finally:
            self._outbox.close()
            await self._publisher.close()

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


class _LoopArrivals(_Arrivals):
    """The consumer's subscriptions, their callbacks on the caller's loop setting `arrived`."""

    arrived: asyncio.Event

    def _started(self) -> None:
        self.arrived = asyncio.Event()  # connected when the consumer is awaited

    def _arrived_signal(self) -> None:
        self.arrived.set()


class AsyncConsumer:
    """Receives a domain's frames of `types` and `sources` on the caller's loop; takes the
    keywords of the blocking Consumer of transport/nats.py (see it for JetStream replay and
    gaps)."""

    def __init__(self, domain: str, **options: Any) -> None:
        self._arrivals = _LoopArrivals(domain, **options)
        self.domain = self._arrivals.domain

    async def _open(self) -> AsyncConsumer:
        await self._arrivals._open()
        return self

    @property
    def closed(self) -> bool:
        return self._arrivals.closed

    @property
    def gaps(self) -> list[Any]:
        return self._arrivals.gaps

    @property
    def frames_lost(self) -> int:
        return self._arrivals.frames_lost

    @property
    def stream_sequence(self) -> int | None:
        return self._arrivals.stream_sequence

    @property
    def events(self) -> _Events:
        return self._arrivals.events

    async def _take(self, max_frames: int, timeout: float | None
                    ) -> tuple[bytes, BatchResult | None]:
        """Up to `max_frames` checked, filtered frames, waiting on the loop up to `timeout`."""
        arrivals = self._arrivals
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            arrivals.arrived.clear()  # before looking: an arrival after the look sets it again
            taken = arrivals._take(max_frames, 0)
            if taken[0]:
                return taken
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return taken
            try:  # a timeout scope rather than wait_for: no task made for each wait
                async with asyncio.timeout(left):
                    await arrivals.arrived.wait()
            except TimeoutError:
                pass
            if arrivals.closed:
                raise RelayClosedError(f"{arrivals._where()}: receive on a closed consumer")

    async def recv(self, timeout: float | None = None) -> Message:
        """The next message; RelayTimeoutError (a TimeoutError) when none came in time."""
        data, _ = await self._take(1, timeout)
        if not data:
            raise RelayTimeoutError(f"{self._arrivals._where()}: no frame within {timeout} s")
        return decode(data, False)  # checked on arrival

    async def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """Up to `max_frames` frames as their wire bytes (empty when none came in time)."""
        return (await self._take(max_frames, timeout))[0]

    async def recv_batch(self, max_frames: int = 65536, timeout: float | None = None
                         ) -> BatchResult:
        """Up to `max_frames` frames decoded by decode_batch (maybe an empty result)."""
        data, result = await self._take(max_frames, timeout)
        return result if result is not None else decode_batch(data, False)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:  # ends when closed, a recv waiting then included
            try:
                yield await self.recv()
            except RelayClosedError:
                return

    async def close(self) -> None:
        if self.closed:
            return
        self._arrivals._closing()
        await _disconnect(self._arrivals._nc)

    async def __aenter__(self) -> AsyncConsumer:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


async def connect(domain: str, role: Literal["producer", "consumer"], **options: Any) -> Any:
    """An AsyncProducer or AsyncConsumer of `domain`, connected (the keyword options of the
    blocking Producer or Consumer)."""
    if role == "producer":
        return await AsyncProducer(domain, **options)._open()
    if role == "consumer":
        return await AsyncConsumer(domain, **options)._open()
    raise FieldValueError(f"role: {role!r}, expected 'producer' or 'consumer'", field="role")


__all__ = ["AsyncProducer", "AsyncConsumer", "connect"]
