"""``await aio.connect(domain, role, config=...)``: every transport's client on asyncio
(uvloop's loop included), with the blocking clients' API awaited.

The relays (unix_socket, and tcp: the same relay over TCP) have their own asyncio clients
(relay/aio.py): the loop waits on their sockets. NATS has its own too (transport/nats_aio.py):
nats-py is asyncio natively, so its clients run on the caller's loop. So has the channel
(channel.aio_connect): its producers wake waiting tasks through their loops, and its
consumers hand out the producers' own blocks. The ring's and Redis's blocking clients have no
file descriptor the loop could wait on (a ring is waited for with a futex or by spinning;
redis-py blocks in its socket), so they are wrapped: each client gets one worker
thread of its own, and every call that may wait runs there, in order. A producer of a lossy
ring (market data, signals on shared_memory) never waits, so its sends run on the loop itself. A consumer waits there in slices of
WAIT_SLICE seconds, so that close() and the caller's cancellation are noticed within a slice,
and reads up to READ_AHEAD frames per wait, handing out the rest without a thread. What it
costs: one hand-over to the worker thread and back per send and per wait that finds nothing
read ahead (docs/transports.md, "asyncio", gives a measured figure); send_batch and recv_batch
pay it once per batch.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import os
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from ..capture.batch import BatchResult, decode_batch
from ..relay import aio as relay_aio
from ..relay.backoff import Backoff
from ..relay.client import CONNECT_TIMEOUT
from ..relay.many import split_frames
from ..wire._codec import Message, decode
from ..wire.errors import FieldValueError, RelayClosedError, RelayTimeoutError
from .config import Endpoint
from .numbered import AsyncSourcedProducer
from .select import (channel_keywords, endpoint_of, nats_options, numbering_of, options_of,
                     tcp_address)
from .select import connect as connect_blocking

WAIT_SLICE = 0.05   # seconds one wait of the worker thread lasts at most
READ_AHEAD = 4096   # frames one wait of recv() takes, handed out one by one after
T = TypeVar("T")


async def connect(domain: str, role: Literal["producer", "consumer"], *,
                  types: Iterable[int | str] | None = None,
                  sources: Iterable[int | str] | None = None, name: str | None = None,
                  config: Any = None, runtime_dir: str | os.PathLike[str] | None = None,
                  source: int | None = None, sequence: Literal["auto"] | None = None,
                  timeout: float = CONNECT_TIMEOUT, reconnect: bool | Backoff = False,
                  **options: Any) -> Any:
    """``alphapulse_codec.connect``, awaited: the relay's AsyncProducer or AsyncConsumer for a
    unix_socket or tcp domain, NATS's own (nats_aio) for a nats domain, the channel's own for a
    channel domain, else an AsyncProducer or AsyncConsumer wrapping the transport's blocking
    client (see the module's doc for how they wait)."""
    keywords: dict[str, Any] = {"types": types, "sources": sources, "name": name, "source": source,
                "sequence": sequence, "timeout": timeout, "reconnect": reconnect}
    endpoint = endpoint_of(domain, config, runtime_dir)
    if endpoint is None:
        return await relay_aio.connect(domain, role, config=config, runtime_dir=runtime_dir,
                                       **keywords, **options)
    with options_of(endpoint, role, options):
        return await _connect(endpoint, role, keywords, options)


async def _connect(endpoint: Endpoint, role: Literal["producer", "consumer"],
                   keywords: dict[str, Any], options: dict[str, Any]) -> Any:
    domain = endpoint.domain
    if endpoint.transport == "unix_socket":
        return await relay_aio.connect(domain, role, config=endpoint.policy, **keywords,
                                       **options)
    if endpoint.transport == "tcp":
        address, tls = tcp_address(endpoint)
        return await relay_aio.connect(domain, role, config=endpoint.policy, address=address,
                                       tls=tls, **keywords, **options)
    if endpoint.transport == "channel":
        return await channel_connect(endpoint, role, keywords, options)
    if endpoint.transport == "nats":
        from . import nats_aio  # its client library is an extra

        client = await nats_aio.connect(domain, role, **nats_options(endpoint, role, keywords,
                                                                     options))
        numbering = numbering_of(keywords) if role == "producer" else None
        return client if numbering is None else AsyncSourcedProducer(client, numbering)
    worker = ThreadPoolExecutor(1, thread_name_prefix=f"alphapulse-{domain}-{role}")
    try:
        client = await asyncio.get_running_loop().run_in_executor(worker, functools.partial(
            connect_blocking, domain, role, config=endpoint, **keywords, **options))
    except BaseException:
        worker.shutdown(wait=False)
        raise
    if role == "producer":
        never_waits = endpoint.transport == "shared_memory" and \
            endpoint.options["policy"] == "lossy"
        return AsyncProducer(client, worker, endpoint.where(), inline=never_waits)
    return AsyncConsumer(client, worker, endpoint.where())


async def channel_connect(endpoint: Endpoint, role: Literal["producer", "consumer"],
                          keywords: dict[str, Any], options: dict[str, Any]) -> Any:
    """The channel's own asyncio client of the process's channel of the domain."""
    from . import channel

    return await channel.aio_connect(endpoint.domain, role,
                                     **channel_keywords(endpoint, keywords, options))


def _doing(call: Callable[..., Any]) -> str:
    """What a call does, in the blocking clients' words: send_batch sends."""
    return call.__name__.removesuffix("_batch")


class _Wrapped:
    """A blocking client driven from its own worker thread."""

    _role = "client"

    def __init__(self, client: Any, worker: ThreadPoolExecutor, where: str) -> None:
        self._client = client
        self._worker = worker
        self._closed = False
        self.domain = getattr(client, "domain", None)
        self.where = where  # the transport's place, for messages (Endpoint.where)

    def _check_open(self, doing: str) -> None:
        if self._closed:
            raise RelayClosedError(f"{self.where}: {doing} on a closed {self._role}")

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        self._check_open(_doing(call))
        return await asyncio.get_running_loop().run_in_executor(self._worker, call, *args)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def client(self) -> Any:
        """The blocking client underneath (its transport's own attributes)."""
        return self._client

    async def close(self) -> None:
        """Closes the client once the worker's current call (a wait: one slice) is done."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._client.close)
        finally:
            self._worker.shutdown(wait=False)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


class AsyncProducer(_Wrapped):
    """A transport's producer, awaited: send, send_batch, flush, close. With `inline` (a
    client whose sends never wait) the sends run on the loop, without the worker thread."""

    _role = "producer"

    def __init__(self, client: Any, worker: ThreadPoolExecutor, where: str, *,
                 inline: bool = False) -> None:
        super().__init__(client, worker, where)
        self.inline = inline

    def next_sequence(self, source: int | None = None) -> int:
        """The sequence the next frame of ``source`` gets, for a producer connected with
        ``sequence="auto"``."""
        if not hasattr(self._client, "next_sequence"):
            raise FieldValueError("sequence numbers are the caller's: connect with"
                                  " sequence='auto' to have them counted", field="sequence")
        return int(self._client.next_sequence(source))

    async def _send(self, call: Callable[..., T], data: Any) -> T:
        if not self.inline:
            return await self._run(call, data)
        self._check_open(_doing(call))
        return call(data)

    async def send(self, message: Message | bytes | bytearray | memoryview) -> None:
        await self._send(self._client.send, message)

    async def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        return int(await self._send(self._client.send_batch, buffer))

    async def flush(self) -> list[Any]:
        """What the transport answered (ErrorReports of a relay); [] where nothing answers."""
        answered = await self._run(self._client.flush)
        return list(answered or [])


class AsyncConsumer(_Wrapped):
    """A transport's consumer, awaited: recv, recv_batch, recv_bytes, ``async for``, gaps."""

    _role = "consumer"

    def __init__(self, client: Any, worker: ThreadPoolExecutor, where: str) -> None:
        super().__init__(client, worker, where)
        self._ahead: collections.deque[bytes] = collections.deque()
        self._reading: asyncio.Future[Any] | None = None

    @property
    def gaps(self) -> list[Any]:
        return list(self._client.gaps)

    @property
    def frames_lost(self) -> int:
        return int(self._client.frames_lost)

    async def _wait(self, max_frames: int, timeout: float | None) -> bytes:
        """Up to `max_frames` frames read by the worker within `timeout` (b"": none came).
        A read the caller stopped waiting for (cancelled) is kept for the next call."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._check_open("receive")
            if self._reading is None:
                left = WAIT_SLICE if deadline is None else deadline - loop.time()
                wait = max(0.001, min(WAIT_SLICE, left))
                self._reading = loop.run_in_executor(
                    self._worker, self._client.recv_bytes, max_frames, wait)
            data = await asyncio.shield(self._reading)
            self._reading = None
            if data or (deadline is not None and loop.time() >= deadline):
                return bytes(data)

    def _take_ahead(self, max_frames: int) -> bytes:
        taken = [self._ahead.popleft() for _ in range(min(max_frames, len(self._ahead)))]
        return b"".join(taken)

    async def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """Up to `max_frames` frames as their wire bytes (empty when none came in time)."""
        if self._ahead:
            return self._take_ahead(max_frames)
        return await self._wait(max_frames, timeout)

    async def recv_batch(self, max_frames: int = 65536, timeout: float | None = None
                         ) -> BatchResult:
        """Up to `max_frames` frames decoded by decode_batch (maybe an empty result)."""
        return decode_batch(await self.recv_bytes(max_frames, timeout),
                            getattr(self._client, "verify", True))

    async def recv(self, timeout: float | None = None) -> Any:
        """The next message; RelayTimeoutError (a TimeoutError) when none came in time."""
        if not self._ahead:
            data = await self._wait(READ_AHEAD, timeout)
            if not data:
                raise RelayTimeoutError(f"{self.where}: no frame within {timeout:g} s")
            self._ahead.extend(bytes(frame) for frame in split_frames(data))
        return decode(self._ahead.popleft(), getattr(self._client, "verify", True))

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while True:  # ends when closed, as a relay consumer's iteration does
            try:
                yield await self.recv()
            except RelayClosedError:
                return


__all__ = ["connect", "AsyncProducer", "AsyncConsumer", "WAIT_SLICE", "READ_AHEAD"]
