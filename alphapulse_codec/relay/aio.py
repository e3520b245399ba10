"""asyncio clients of a domain relay: the blocking clients' API, awaited.

    producer = await aio.connect("market_data", "producer", source=SourceType.BinanceCollector,
                                 sequence="auto")
    await producer.send(trade)
    consumer = await aio.connect("market_data", "consumer", types=["Trade"])
    async for message in consumer:
        ...

They run on any asyncio event loop, uvloop's included: the sockets are non-blocking and the
loop wakes the client when they are ready; the handshake, a few frames long, runs in the
loop's executor. The frame handling (numbering, splitting, gap tracking) is the blocking
clients' own.
"""
from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal, cast, overload

from ..capture.batch import BatchResult, decode_batch
from ..wire._codec import decode
from ..wire.errors import (RelayClosedError, RelayError, RelayRefusedError,
                           RelayTimeoutError)
from .backoff import Backoff
from .client import CONNECT_TIMEOUT, Consumer, Producer, positive, whole_frames_in
from .client import connect as connect_blocking
from .config import Subscription
from .many import ATTEMPT_TIMEOUT, DASHBOARD_BACKOFF, policy_of, split_frames, subscriptions_of
from .tcp import Address, buffered


Waits = dict["asyncio.Future[None]", tuple[int, bool]]  # a client's waits: fd, for writing


def _stop_watching(loop: asyncio.AbstractEventLoop, fd: int, writable: bool) -> None:
    (loop.remove_writer if writable else loop.remove_reader)(fd)


async def _ready(sock: socket.socket, writable: bool, timeout: float | None,
                 waits: Waits) -> bool:
    """Wait until ``sock`` can be read (or written), at most ``timeout`` seconds; False when
    the time ran out. The wait is in ``waits`` meanwhile, for the client's close to end it
    (a closed descriptor never wakes the loop)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    (loop.add_writer if writable else loop.add_reader)(fd, wake)
    waits[ready] = (fd, writable)
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        if waits.pop(ready, None) is not None:  # else the close stopped watching fd
            _stop_watching(loop, fd, writable)


@overload
async def connect(domain: str, role: Literal["producer"], *,
                  types: Iterable[int | str] | None = None,
                  sources: Iterable[int | str] | None = None, name: str | None = None,
                  config: Any = None, runtime_dir: str | os.PathLike[str] | None = None,
                  source: int | None = None, sequence: Literal["auto"] | None = None,
                  timeout: float = CONNECT_TIMEOUT,
                  reconnect: bool | Backoff = False, address: Address | None = None,
                  tls: ssl.SSLContext | None = None) -> AsyncProducer: ...


@overload
async def connect(domain: str, role: Literal["consumer"], *,
                  types: Iterable[int | str] | None = None,
                  sources: Iterable[int | str] | None = None, name: str | None = None,
                  config: Any = None, runtime_dir: str | os.PathLike[str] | None = None,
                  source: int | None = None, sequence: Literal["auto"] | None = None,
                  timeout: float = CONNECT_TIMEOUT,
                  reconnect: bool | Backoff = False, address: Address | None = None,
                  tls: ssl.SSLContext | None = None) -> AsyncConsumer: ...


async def connect(domain: str, role: Literal["producer", "consumer"], *,
                  types: Iterable[int | str] | None = None,
                  sources: Iterable[int | str] | None = None, name: str | None = None,
                  config: Any = None, runtime_dir: str | os.PathLike[str] | None = None,
                  source: int | None = None, sequence: Literal["auto"] | None = None,
                  timeout: float = CONNECT_TIMEOUT, reconnect: bool | Backoff = False,
                  address: Address | None = None,
                  tls: ssl.SSLContext | None = None) -> AsyncProducer | AsyncConsumer:
    """``alphapulse_codec.connect``, awaited: an AsyncProducer or an AsyncConsumer (over TCP
    to ``address``, through TLS with ``tls``, as the blocking one)."""
    loop = asyncio.get_running_loop()
    client = await loop.run_in_executor(None, lambda: connect_blocking(
        domain, role, types=types, sources=sources, name=name, config=config,
        runtime_dir=runtime_dir, source=source, sequence=sequence, timeout=timeout,
        reconnect=reconnect, address=address, tls=tls))
    return AsyncProducer(client) if isinstance(client, Producer) else AsyncConsumer(client)


class _AsyncClient:
    def __init__(self, client: Producer | Consumer) -> None:
        self._client = client
        self._client._sock.setblocking(False)
        self.policy = client.policy
        self.domain = client.domain
        self.where = client.where
        self._waits: Waits = {}

    @property
    def connection_id(self) -> int:
        return self._client.connection_id

    @property
    def reconnects(self) -> int:
        return self._client.reconnects

    @property
    def closed(self) -> bool:
        return self._client.closed

    async def _reconnect(self, why: str) -> None:
        """Connect again, waiting between attempts as the backoff says, without holding up
        the loop."""
        client = self._client
        retry = client._retry(why)
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(None, client._dial)
            except RelayRefusedError:
                raise
            except (RelayError, OSError) as error:
                await asyncio.sleep(retry.next_delay(error))
                continue
            retry.succeeded()
            client._sock.setblocking(False)
            return

    async def close(self) -> None:
        """Closes the connection; a send or recv waiting for it raises RelayClosedError."""
        if self._waits:
            loop = asyncio.get_running_loop()
            for ready, (fd, writable) in self._waits.items():
                _stop_watching(loop, fd, writable)  # before the descriptor is closed
                if not ready.done():
                    ready.set_result(None)
            self._waits.clear()
        self._client.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


class AsyncProducer(_AsyncClient):
    """Sends frames to a relay; ``errors`` holds the relay's Error answers so far."""

    _client: Producer

    @property
    def errors(self) -> list[Any]:
        return self._client.errors

    @property
    def source(self) -> int:
        return self._client.source

    def next_sequence(self, source: int | None = None) -> int:
        return self._client.next_sequence(source)

    async def send(self, message: Any) -> None:
        """Send one message or one frame's bytes."""
        self._client._sent(await self._write(message, single=True))

    async def send_batch(self, buffer: Any) -> int:
        """Send many whole frames back to back; returns how many."""
        return self._client._sent(await self._write(buffer, single=False))

    async def flush(self) -> list[Any]:
        """The Error answers of the relay that came since the last look."""
        self._client._check_open("flush")
        return self._client._collect_answers()

    async def finish(self, timeout: float | None = CONNECT_TIMEOUT) -> list[Any]:
        """Close once the relay has judged every frame sent; every Error answer of the
        connection (``Producer.finish``, waited for in the loop's executor)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._client.finish, timeout)

    async def _write(self, data: Any, single: bool) -> int:
        client = self._client
        client._check_open("send")
        view, count = client._frames(data, single)
        while True:
            sent = 0
            try:
                if client._look_before_write:
                    client._check_ended()
                while sent < len(view):
                    client._check_open("send")  # a close while this send waited
                    try:
                        sent += client._sock.send(view[sent:])
                    except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                        await _ready(client._sock, True, None, self._waits)
                    except ssl.SSLWantReadError:  # TLS offers the same bytes again once read
                        await _ready(client._sock, False, None, self._waits)
                return count
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                why = client._lost()
            view = view[whole_frames_in(view, sent):]
            await self._reconnect(why)


class AsyncConsumer(_AsyncClient):
    """Receives the frames of its subscription; ``gaps`` lists what it missed."""

    _client: Consumer

    @property
    def gaps(self) -> list[Any]:
        return self._client.gaps

    @property
    def frames_lost(self) -> int:
        return self._client.frames_lost

    async def _take(self, max_frames: int, timeout: float | None) -> bytes:
        client = self._client
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if client._retrying is None:  # a consumer whose relay is away has no socket open
                client._check_open("receive")
            data = client._taken(max_frames)
            if data:
                return data
            if client._eof or client._retrying is not None:
                if not await self._reconnected(deadline):
                    return b""
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return b""
            # TLS may hold decrypted bytes already: the descriptor would not wake for them
            if buffered(client._sock) or await _ready(client._sock, False, left, self._waits):
                client._check_open("receive")  # a close ended the wait
                client._drain_socket()

    async def _reconnected(self, deadline: float | None) -> bool:
        """The blocking consumer's attempts to reach its relay again, awaited: until one
        succeeds or ``deadline`` comes, going on at the next receive."""
        client = self._client
        loop = asyncio.get_running_loop()
        while True:
            wait, attempt = client._attempt_wait(deadline)
            await asyncio.sleep(wait)
            client._check_not_closed_meanwhile()
            if not attempt:
                return False
            try:
                await loop.run_in_executor(None, client._dial)
            except RelayRefusedError:
                raise
            except (RelayError, OSError) as error:
                client._attempted(error)
                continue
            client._attempted(None)
            client._sock.setblocking(False)
            return True

    async def recv(self, timeout: float | None = None) -> Any:
        """The next message, waiting up to ``timeout`` seconds (forever when None)."""
        data = await self._take(1, timeout)
        if not data:
            raise RelayTimeoutError(f"{self.where}: no frame within {timeout:g} s")
        return decode(data, max_frame_size=self._client.max_frame_size)

    async def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                         verify: bool = True) -> BatchResult:
        """The frames received so far, at most ``max_frames``, decoded into arrays per type;
        empty when none came within ``timeout``."""
        return decode_batch(await self._take(positive(max_frames, "max_frames"), timeout),
                            verify=verify,
                            max_frame_size=self._client.max_frame_size)

    async def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """The received frames themselves, whole and back to back."""
        return await self._take(positive(max_frames, "max_frames"), timeout)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while True:
            try:
                yield await self.recv()
            except RelayClosedError:
                return


class AsyncMultiConsumer:
    """``subscribe_many`` on asyncio: one task per relay, each connecting (again and again
    while the relay is down) and handing what it receives to the reader; ``status`` says
    which relays are up, ``gaps`` what each relay's stream missed."""

    QUEUED_CHUNKS = 64  # received chunks waiting for the reader, over all relays

    def __init__(self, subscriptions: Iterable[Subscription], *, name: str = "",
                 backoff: Backoff = DASHBOARD_BACKOFF) -> None:
        self._subscriptions = tuple(subscriptions)
        self.name = name
        self.backoff = backoff
        self.status = {s.domain: "down: not connected yet" for s in self._subscriptions}
        self._consumers: dict[str, AsyncConsumer] = {}
        self._queue: asyncio.Queue[tuple[str, bytes] | BaseException] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: list[tuple[str, bytes]] = []

    @property
    def gaps(self) -> dict[str, list[Any]]:
        return {s.domain: list(self._consumers[s.domain].gaps)
                if s.domain in self._consumers else [] for s in self._subscriptions}

    def _started(self) -> asyncio.Queue[tuple[str, bytes] | BaseException]:
        if self._queue is None:
            self._queue = asyncio.Queue(self.QUEUED_CHUNKS)
            self._tasks = [asyncio.create_task(self._read(s)) for s in self._subscriptions]
        return self._queue

    async def _read(self, subscription: Subscription) -> None:
        queue = self._started()
        domain = subscription.domain
        try:
            delays = self.backoff.delays()
            while True:
                try:
                    consumer = await connect(domain, "consumer",
                                             types=subscription.message_types, name=self.name,
                                             config=policy_of(subscription),
                                             timeout=ATTEMPT_TIMEOUT, reconnect=self.backoff,
                                             address=subscription.address,
                                             tls=subscription.tls)
                    break
                except RelayRefusedError:
                    raise
                except (RelayError, OSError) as error:
                    self.status[domain] = f"down: {error}"
                    await asyncio.sleep(next(delays))
            self._consumers[domain] = cast(AsyncConsumer, consumer)
            self.status[domain] = "up"
            while True:
                await queue.put((domain, await self._consumers[domain].recv_bytes()))
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # the reader raises it
            await queue.put(error)

    async def recv_bytes(self, timeout: float | None = None) -> tuple[str, bytes] | None:
        """(domain, whole frames back to back) of one relay; None when none came within
        ``timeout``."""
        queue = self._started()
        try:
            item = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def recv_batch(self, timeout: float | None = None, *,
                         verify: bool = True) -> tuple[str, BatchResult] | None:
        """(domain, frames decoded into arrays per type) of one relay; None on timeout."""
        got = await self.recv_bytes(timeout)
        return None if got is None else (got[0], decode_batch(got[1], verify=verify))

    async def recv(self, timeout: float | None = None) -> tuple[str, Any]:
        """The next (domain, message) of any relay."""
        if not self._ready:
            got = await self.recv_bytes(timeout)
            if got is None:
                raise RelayTimeoutError(f"no frame within {timeout:g} s")
            self._ready = [(got[0], bytes(frame)) for frame in split_frames(got[1])]
            self._ready.reverse()
        domain, frame = self._ready.pop()
        return domain, decode(frame)

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[tuple[str, Any]]:
        while True:
            yield await self.recv()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for consumer in self._consumers.values():
            await consumer.close()

    async def __aenter__(self) -> AsyncMultiConsumer:
        self._started()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


def subscribe_many(config: Any = None, *, runtime_dir: str | os.PathLike[str] | None = None,
                   name: str = "", backoff: Backoff = DASHBOARD_BACKOFF) -> AsyncMultiConsumer:
    """``alphapulse_codec.subscribe_many`` on asyncio: ``async with aio.subscribe_many(cfg)
    as relays: async for domain, message in relays: ...``"""
    return AsyncMultiConsumer(subscriptions_of(config, runtime_dir), name=name, backoff=backoff)
