"""Producers and consumers over NATS (nats-py), with JetStream optional per domain.

    with connect("market_data", "producer", servers=["nats://127.0.0.1:4222"]) as producer:
        producer.send(trade)                         # a message of its own, sent at once
        producer.send_batch(ap.encode_batch(rows))   # several frames per NATS message
    with connect("market_data", "consumer", servers=[...], types=["Trade"]) as consumer:
        result = consumer.recv_batch(timeout=1.0)

A frame of type T of domain D travels on the subject `<subject_prefix>.D.T` (T the
MessageType name), so a consumer subscribing to types subscribes to those subjects; a message
holds whole frames of one type, their wire bytes back to back: those of a send_batch, cut
into messages of at most `batch_frames` (4096) frames and `batch_bytes` (256 KiB); a single
send is a message of its own, unless `batch_frames` or `batch_bytes` is given, which gathers
single sends of a type until a batch is full (or flush). With `jetstream=True` the
domain's frames are kept in the stream `<SUBJECT_PREFIX>_<DOMAIN>` (created when absent), the
producer's publishes are acknowledged in batches, and a consumer replays from
`start_sequence` (a stream sequence) or `start_time` (a datetime). The client reconnects
through the server list on its own. The API is blocking: nats-py's asyncio client runs on
a private event-loop thread of each producer and consumer; nats_aio.py gives the same clients
on the caller's own loop, sharing the parts here that do not wait.
"""
from __future__ import annotations

import asyncio
import collections
import datetime as _datetime
import math
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Literal, TypeVar

from ..relay.client import Gap
from ..wire.enums import GapReason
from ..wire.errors import FieldValueError
from ..wire.optional import require
from . import _bus, _frames
from .errors import BusConnectionError, BusError

DEFAULT_SERVERS = ("nats://127.0.0.1:4222",)
DEFAULT_PREFIX = "alphapulse"
CONNECT_TIMEOUT = 5.0
RECONNECT_ATTEMPTS = 60     # per server of the list, 0.5 s apart: half a minute of outage
RECONNECT_WAIT = 0.5
FLUSH_TIMEOUT = CONNECT_TIMEOUT * 2  # seconds a flush waits for a server, then its answer
MAX_PENDING_BYTES = 256 << 20  # what a consumer holds unread before the bus drops for it
ACK_TIMEOUT = 10.0          # seconds JetStream's acknowledgements of a batch are waited for
MAX_ACKS_PENDING = 4096     # JetStream publishes in flight before the producer waits for acks
IN_FLIGHT_BYTES = 1 << 20   # handed to the loop thread, not yet published: then senders wait;
                            # more in flight only costs memory traffic (measured slower)

T = TypeVar("T")
_nats: Any = None


def _client() -> Any:
    global _nats
    if _nats is None:
        _nats = require("nats", "the NATS transport")
        require("nats.js", "the NATS transport")
    return _nats


def subject(prefix: str, domain: str, message_type: int | str = "*") -> str:
    """The subject of a domain's frames of one type (`*`: every type)."""
    token = message_type if isinstance(message_type, str) else _frames.type_name(message_type)
    return f"{prefix}.{domain}.{token}"


def stream_name(prefix: str, domain: str) -> str:
    return f"{prefix}_{domain}".upper().replace(".", "_").replace("-", "_")


def _check_name(name: str, value: str) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in " .*>\t\r\n"):
        raise FieldValueError(f"{name}: {value!r}, expected a subject token (no spaces, dots,"
                              " '*' or '>')", field=name)
    return value


def _check_prefix(value: str) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in " *>\t\r\n") \
            or value.startswith(".") or value.endswith(".") or ".." in value:
        raise FieldValueError(f"subject_prefix: {value!r}, expected dot-separated subject"
                              " tokens", field="subject_prefix")
    return value


class _LoopThread:
    """An event loop on a daemon thread of its own, run to by the blocking API."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            try:  # the client's own tasks (flusher, reader, pings) end before their loop
                self.run(_cancel_others(), timeout=10)
            except Exception:  # a task that would not end stays ended with its loop
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


async def _cancel_others() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _connect(servers: Sequence[str], name: str | None, connect_timeout: float,
                   reconnect_attempts: int, events: _Events) -> Any:
    nats = _client()
    _bus.positive("reconnect_attempts", reconnect_attempts)  # nats-py reads 0 as forever
    # nats-py retries a first connection as it would a reconnection: one round of the list
    # is all a first connection gets here, so that a wrong address is told at once
    first_round = connect_timeout * len(servers) + RECONNECT_WAIT
    try:
        return await asyncio.wait_for(nats.connect(
            servers=list(servers), name=name, connect_timeout=connect_timeout,
            allow_reconnect=True, max_reconnect_attempts=reconnect_attempts,
            reconnect_time_wait=RECONNECT_WAIT, dont_randomize=True,
            error_cb=events.error, disconnected_cb=events.disconnected,
            reconnected_cb=events.reconnected, closed_cb=events.closed), first_round)
    except Exception as error:  # nats-py's NoServersError hides each server's own refusal
        raise BusConnectionError(
            f"NATS: none of the servers {', '.join(servers)} accepted a connection within"
            f" {first_round:g} s (last refusal: {events.last_error or error!r})") from None


class _Events:
    """What the connection lived through: disconnections, reconnections, errors."""

    def __init__(self) -> None:
        self.disconnects = 0
        self.reconnects = 0
        self.last_error: BaseException | None = None
        self.dropped_messages = 0
        self.gave_up = False  # the connection closed: by close(), or no server came back
        self.on_closed: Callable[[], None] | None = None

    async def error(self, error: BaseException) -> None:
        self.last_error = error
        if type(error).__name__ == "SlowConsumerError":
            self.dropped_messages += 1

    async def disconnected(self) -> None:
        self.disconnects += 1

    async def reconnected(self) -> None:
        self.reconnects += 1

    async def closed(self) -> None:
        self.gave_up = True
        if self.on_closed is not None:
            self.on_closed()


def _servers(servers: str | Iterable[str] | None) -> list[str]:
    if servers is None:
        return list(DEFAULT_SERVERS)
    found = [servers] if isinstance(servers, str) else list(servers)
    if not found or not all(isinstance(s, str) and s for s in found):
        raise FieldValueError(f"servers: {servers!r}, expected one or more nats:// URLs",
                              field="servers")
    return found


Outgoing = tuple[str, bytes]  # a NATS message: subject, payload of whole frames


class _Outbox(_bus.BatchingProducer):
    """A producer's frames cut into NATS messages, waiting in `messages` for whoever publishes
    them: the caller's side of a producer, the same for the blocking and the asyncio one."""

    def __init__(self, domain: str, subject_prefix: str, batch_frames: int | None,
                 batch_bytes: int | None, verify: bool) -> None:
        super().__init__(batch_frames, batch_bytes, verify)
        self.domain = _check_name("domain", domain)
        self.prefix = _check_prefix(subject_prefix)
        self.servers: list[str] = []
        self.max_payload: int | None = None  # the server's, once connected
        self.messages: list[Outgoing] = []
        self._subjects = [subject(self.prefix, domain, n) for n in range(256)]

    def _publish(self, message_type: int, data: bytes | memoryview, frames: int) -> None:
        payload = data if type(data) is bytes else bytes(data)
        name = self._subjects[message_type]
        if self.max_payload is not None and len(payload) > self.max_payload:
            raise BusError(f"NATS {', '.join(self.servers)}: publishing to {name} failed: a"
                           f" message of {len(payload):,} bytes is over the server's"
                           f" max_payload of {self.max_payload:,} (lower batch_bytes)")
        self.messages.append((name, payload))

    def take(self) -> list[Outgoing]:
        taken, self.messages = self.messages, []
        return taken

    def _flush_bus(self) -> None:
        """Nothing here: the owner publishes `messages`."""

    def close(self) -> None:
        self.closed = True


class _Publisher:
    """A producer's connection: publishes messages in order on the loop it runs on, collects
    JetStream's acknowledgements in batches."""

    def __init__(self, domain: str, prefix: str, servers: list[str], jetstream: bool,
                 events: _Events, flush_timeout: float = FLUSH_TIMEOUT) -> None:
        self.domain, self.prefix, self.servers = domain, prefix, servers
        if isinstance(flush_timeout, bool) or not isinstance(flush_timeout, (int, float)) \
                or not 0 < flush_timeout < math.inf:
            raise FieldValueError(f"flush_timeout: {flush_timeout!r}, expected seconds > 0",
                                  field="flush_timeout")
        self.flush_timeout = float(flush_timeout)
        self.stream = stream_name(prefix, domain) if jetstream else None
        self.events = events
        self._acks: list[Any] = []
        self._nc: Any = None
        self._js: Any = None

    async def open(self, name: str | None, connect_timeout: float, reconnect_attempts: int,
                   replicas: int, max_queue_size: int | None) -> None:
        self._nc = await _connect(self.servers, name, connect_timeout, reconnect_attempts,
                                  self.events)
        if self.stream is not None:
            self._js = self._nc.jetstream()
            try:
                await _ensure_stream(self._js, self.prefix, self.domain,
                                     _bus.positive("replicas", replicas), max_queue_size)
            except _client().errors.Error as error:
                await self._nc.close()
                raise BusError(f"NATS JetStream: stream {self.stream} not available:"
                               f" {error!r}") from None
            except BaseException:
                await self._nc.close()
                raise

    @property
    def max_payload(self) -> int:
        return int(self._nc.max_payload)

    async def publish_all(self, messages: list[Outgoing]) -> None:
        name = messages[0][0] if messages else ""
        try:
            if self._js is None:
                publish = self._nc.publish
                for name, payload in messages:
                    await publish(name, payload)
                return
            for name, payload in messages:
                self._acks.append(await self._js.publish_async(name, payload))
                if len(self._acks) >= MAX_ACKS_PENDING:
                    await self._collect_acks()
        except BusError:
            raise
        except (_client().errors.Error, OSError) as error:  # a lost connection, a full buffer
            raise BusError(f"NATS {', '.join(self.servers)}: publishing to {name} failed:"
                           f" {error!r}") from None

    async def _collect_acks(self) -> None:
        acks, self._acks = self._acks, []
        try:  # an ack lost with a server that went away would be waited for forever
            answers = await asyncio.wait_for(asyncio.gather(*acks, return_exceptions=True),
                                             ACK_TIMEOUT)
        except asyncio.TimeoutError:
            raise BusError(f"NATS JetStream: {len(acks)} messages of stream {self.stream} not"
                           f" acknowledged within {ACK_TIMEOUT} s") from None
        failed = [a for a in answers if isinstance(a, BaseException)]
        if failed:
            raise BusError(f"NATS JetStream refused {len(failed)} of {len(answers)} messages of"
                           f" stream {self.stream}: {failed[0]!r}")

    async def finish(self) -> None:
        """Waits for JetStream's acknowledgements and for the server to have every message."""
        if self._acks:
            await self._collect_acks()
        await self._connected()
        try:
            await self._nc.flush(timeout=self.flush_timeout)
        except _client().errors.Error as error:
            raise BusError(f"NATS {', '.join(self.servers)}: flush failed: {error!r}") from None

    async def _connected(self) -> None:
        """Waits for a server while nats-py reconnects: its own flush then returns at once,
        having written its buffer to no server, and a flush that returned would say the
        server has frames that wait in the client (and are lost if none comes back)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_timeout
        while not self._nc.is_connected:
            if self._nc.is_closed:
                raise BusError(f"NATS {', '.join(self.servers)}: flush failed: the connection"
                               " is closed, no server came back within its reconnection"
                               " attempts; what was sent since the last flush may be lost")
            if loop.time() >= deadline:
                raise BusError(f"NATS {', '.join(self.servers)}: flush failed: no server"
                               f" connected within {self.flush_timeout:g} s; what was sent"
                               " waits in the client's buffer for one to come back")
            await asyncio.sleep(RECONNECT_WAIT / 10)

    async def close(self) -> None:
        await _disconnect(self._nc)


async def _disconnect(nc: Any) -> None:
    """Closes a connection; one the server already lost is closed all the same (what it still
    held was reported by the flush before). On uvloop, nats-py's close writes what it still
    holds to the lost connection's transport, which uvloop refuses with a RuntimeError after
    nats-py has stopped its tasks."""
    try:
        await nc.close()
    except (_client().errors.Error, OSError, RuntimeError):
        pass


class _HandOver:
    """Messages passed from a blocking producer's thread to its loop thread, published there in
    order by one task; the producer never waits for a publish. The loop is woken (one
    call_soon_threadsafe) only when that task is not already at work: a producer that sends
    faster than the loop publishes appends to its queue without a wake-up. At most
    IN_FLIGHT_BYTES wait there, beyond which the producer waits for room; a publish that
    failed is raised to the producer at its next send or flush."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 publish: Callable[[list[Outgoing]], Coroutine[Any, Any, None]]) -> None:
        self._loop, self._publish = loop, publish
        self._waiting: collections.deque[tuple[list[Outgoing], int]] = collections.deque()
        self._room = threading.Condition()  # guards _bytes and _draining
        self._bytes = 0
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def give(self, messages: list[Outgoing]) -> None:
        self.raise_failure()
        if not messages:
            return
        size = sum(len(payload) for _, payload in messages)
        with self._room:
            while self._bytes > IN_FLIGHT_BYTES and self._loop.is_running():
                self._room.wait(0.5)
            self._bytes += size
            self._waiting.append((messages, size))
            wake, self._draining = not self._draining, True
        if wake:
            self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        self._task = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            with self._room:
                if not self._waiting:
                    self._draining = False
                    return
                messages, size = self._waiting.popleft()
            try:
                await self._publish(messages)
            except Exception as error:
                self._failure = self._failure or error
            finally:
                with self._room:
                    self._bytes -= size
                    self._room.notify_all()

    async def settled(self) -> None:
        """Returns once every message given before is published (run on the loop, after the
        wake-up of the last give: call_soon_threadsafe keeps their order)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        self.raise_failure()

    def raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure


class Producer(_Outbox):
    """Publishes a domain's frames, batched per type (see the module's doc). Each send and
    send_batch checks and cuts its frames on the caller's thread, then hands the messages to
    the loop thread without waiting for them to be published; flush waits for that."""

    def __init__(self, domain: str, *, servers: str | Iterable[str] | None = None,
                 subject_prefix: str = DEFAULT_PREFIX, jetstream: bool = False,
                 replicas: int = 1, max_queue_size: int | None = None,
                 batch_frames: int | None = None,
                 batch_bytes: int | None = None, name: str | None = None,
                 verify: bool = True, connect_timeout: float = CONNECT_TIMEOUT,
                 reconnect_attempts: int = RECONNECT_ATTEMPTS,
                 flush_timeout: float = FLUSH_TIMEOUT) -> None:
        super().__init__(domain, subject_prefix, batch_frames, batch_bytes, verify)
        self.servers = _servers(servers)
        self.jetstream = jetstream
        self.events = _Events()
        self._publisher = _Publisher(self.domain, self.prefix, self.servers, jetstream,
                                     self.events, flush_timeout)
        self._loop = _LoopThread(f"nats-producer-{domain}")
        try:
            self._loop.run(self._publisher.open(name, connect_timeout, reconnect_attempts,
                                                replicas, max_queue_size))
        except BaseException:
            self._loop.stop()
            raise
        self.max_payload = self._publisher.max_payload
        self._handed = _HandOver(self._loop.loop, self._publisher.publish_all)

    @property
    def stream(self) -> str | None:
        return self._publisher.stream

    def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        try:
            return super().send_batch(buffer)
        finally:  # what was cut before a refusal (a message over max_payload) goes too
            self._handed.give(self.take())

    def send(self, message: Any) -> None:
        super().send(message)
        self._handed.give(self.take())  # the frame, or a gathered batch that filled up

    def _flush_bus(self) -> None:
        self._handed.give(self.take())
        self._loop.run(self._settle())

    async def _settle(self) -> None:
        await self._handed.settled()
        await self._publisher.finish()

    def close(self) -> None:
        """Sends what is queued, waits for the server (and JetStream's acks), disconnects."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            try:
                self._loop.run(self._publisher.close(), timeout=10)
            finally:
                self._loop.stop()


async def _ensure_stream(js: Any, prefix: str, domain: str, replicas: int,
                         max_queue_size: int | None) -> None:
    nats = _client()
    name = stream_name(prefix, domain)
    try:
        await js.stream_info(name)
        return
    except nats.js.errors.NotFoundError:
        pass
    limits: dict[str, Any] = {}
    if max_queue_size is not None:
        limits["max_msgs"] = _bus.positive("max_queue_size", max_queue_size)
    try:
        await js.add_stream(name=name, subjects=[f"{prefix}.{domain}.>"], num_replicas=replicas,
                            **limits)
    except nats.js.errors.BadRequestError as error:
        raise BusError(f"NATS JetStream: stream {name} for {prefix}.{domain}.> could not be"
                       f" created: {error.description}") from None


class _Arrivals(_bus.FilteringConsumer):
    """A consumer's subscriptions and what they brought, queued until read: the part of a
    consumer that does not wait, the same for the blocking and the asyncio one (whose
    `_fetch` waits, or not, and whose `_arrived_signal` wakes a reader)."""

    def __init__(self, domain: str, *, servers: str | Iterable[str] | None = None,
                 subject_prefix: str = DEFAULT_PREFIX, types: Any = None, sources: Any = None,
                 jetstream: bool = False, start_sequence: int | None = None,
                 start_time: _datetime.datetime | None = None, name: str | None = None,
                 verify: bool = True, connect_timeout: float = CONNECT_TIMEOUT,
                 reconnect_attempts: int = RECONNECT_ATTEMPTS,
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        super().__init__(types, sources, verify, track_sequences=types is None)
        self.domain = _check_name("domain", domain)
        self.prefix = _check_prefix(subject_prefix)
        self.servers = _servers(servers)
        self.jetstream = jetstream
        if (start_sequence is not None or start_time is not None) and not jetstream:
            raise FieldValueError("start_sequence/start_time: replay needs jetstream=True",
                                  field="start_sequence")
        if start_sequence is not None and start_time is not None:
            raise FieldValueError("start_sequence and start_time: give one", field="start_time")
        if start_time is not None and start_time.tzinfo is None:
            raise FieldValueError("start_time: expected an aware datetime (with tzinfo)",
                                  field="start_time")
        self.max_pending_bytes = _bus.positive("max_pending_bytes", max_pending_bytes)
        self.events = _Events()
        self.events.on_closed = self._connection_closed
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._ready_signal = threading.Condition()
        self._stream_sequence: int | None = None
        self._subscription_sequences: dict[str | None, int] = {}
        self._start = (name, connect_timeout, reconnect_attempts, start_sequence, start_time)
        self._nc: Any = None
        self._started()

    def _started(self) -> None:
        """What the consumer does once its arguments are checked: the blocking one connects,
        the asyncio one waits to be awaited."""

    async def _open(self) -> None:
        """Connects and subscribes, on the loop the consumer's callbacks are to run on."""
        name, connect_timeout, reconnect_attempts, start_sequence, start_time = self._start
        self._nc = await _connect(self.servers, name, connect_timeout, reconnect_attempts,
                                  self.events)
        try:
            self._subscriptions = await self._subscribe(start_sequence, start_time)
        except BaseException as error:
            await self._nc.close()
            if isinstance(error, _client().errors.Error):
                raise BusError(f"NATS: subscribing to {', '.join(self._subjects())}"
                               f"{' (JetStream)' if self.jetstream else ''} failed:"
                               f" {error!r}") from None
            raise

    def _subjects(self) -> list[str]:
        if self.types is None:
            return [subject(self.prefix, self.domain, "*")]
        return [subject(self.prefix, self.domain, n) for n in sorted(self.types)]

    async def _subscribe(self, start_sequence: int | None,
                         start_time: _datetime.datetime | None) -> list[Any]:
        if not self.jetstream:
            return [await self._nc.subscribe(s, cb=self._arrived, pending_bytes_limit=
                                             self.max_pending_bytes) for s in self._subjects()]
        api = _client().js.api
        where: dict[str, Any] = {"deliver_policy": api.DeliverPolicy.NEW}
        if start_sequence is not None:
            where = {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE,
                     "opt_start_seq": _bus.positive("start_sequence", start_sequence)}
        elif start_time is not None:
            moment = start_time.astimezone(_datetime.timezone.utc)
            where = {"deliver_policy": api.DeliverPolicy.BY_START_TIME,
                     "opt_start_time": moment.isoformat().replace("+00:00", "Z")}
        js = self._nc.jetstream()
        stream = stream_name(self.prefix, self.domain)
        subscriptions = []
        for name in (f"{self.prefix}.{self.domain}.>",) if self.types is None \
                else self._subjects():
            # a config of its own for each: nats-py writes the consumer's delivery subject
            # into the one it is given, and a shared one would send every type to the first
            subscriptions.append(await js.subscribe(
                name, stream=stream, cb=self._arrived_jetstream, ordered_consumer=True,
                config=api.ConsumerConfig(**where), pending_bytes_limit=self.max_pending_bytes))
        return subscriptions

    async def _arrived(self, message: Any) -> None:
        self._enqueue(message.data)

    async def _arrived_jetstream(self, message: Any) -> None:
        sequence = message.metadata.sequence.stream
        # a consumer of some types has an ordered consumer per subject, each in stream order
        # of its own: a redelivery is told apart from the others' lower sequences by subject
        subscription = None if self.types is None else message.subject
        last = self._subscription_sequences.get(subscription)
        if last is not None and sequence > last + 1 and self.types is None:
            self._report(Gap(None, GapReason.Dropped, last + 1, sequence - 1, None, True))
        if last is None or sequence > last:
            self._subscription_sequences[subscription] = sequence
            self._stream_sequence = max(sequence, self._stream_sequence or 0)
            self._enqueue(message.data)

    def _enqueue(self, data: bytes) -> None:
        with self._ready_signal:
            if self._queued_bytes + len(data) > self.max_pending_bytes:
                self.events.dropped_messages += 1  # the sequence jump reports its frames
                return
            self._queue.append(data)
            self._queued_bytes += len(data)
            self._ready_signal.notify()
        self._arrived_signal()

    def _arrived_signal(self) -> None:
        """Wakes a reader that waits on the loop (the asyncio consumer's)."""

    @property
    def stream_sequence(self) -> int | None:
        """The JetStream stream sequence of the newest message received (to resume from)."""
        return self._stream_sequence

    def _fetch(self, timeout: float | None) -> list[bytes]:
        """What arrived; the blocking consumer waits up to `timeout` for it, the asyncio one
        never here (timeout 0: it waits on its loop). Once nats-py has closed a connection
        that no server of the list took back, and what came before is read, BusConnectionError
        says so, rather than a wait for frames that can no longer come."""
        with self._ready_signal:
            if not self._queue and not self.closed and not self.events.gave_up \
                    and timeout != 0:
                self._ready_signal.wait(timeout)
            taken = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        if not taken and self.events.gave_up and not self.closed:
            raise BusConnectionError(
                f"{self._where()}: the connection was lost and no server of"
                f" {', '.join(self.servers)} took it back within its reconnection attempts"
                f" (last error: {self.events.last_error!r})")
        return taken

    def _connection_closed(self) -> None:
        """nats-py closed the connection: wakes a reader waiting for frames."""
        with self._ready_signal:
            self._ready_signal.notify_all()
        self._arrived_signal()

    def _where(self) -> str:
        return f"NATS {', '.join(self._subjects())}"

    def _closing(self) -> None:
        self.closed = True
        with self._ready_signal:
            self._ready_signal.notify_all()
        self._arrived_signal()


class Consumer(_Arrivals):
    """Receives a domain's frames of `types` (subjects) and `sources` (filtered on receipt);
    with `jetstream=True`, from the domain's stream, from `start_sequence` or `start_time`
    (else only new frames). Gaps: sequence jumps per source (for a consumer of every type)
    and, on JetStream, stream sequences the consumer never got (messages the stream dropped).
    The subscriptions' callbacks run on a loop thread of the consumer's own."""

    def _started(self) -> None:
        self._loop = _LoopThread(f"nats-consumer-{self.domain}")
        try:
            self._loop.run(self._open())
        except BaseException:
            self._loop.stop()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self._closing()
        try:
            self._loop.run(_disconnect(self._nc), timeout=10)
        finally:
            self._loop.stop()


def connect(domain: str, role: Literal["producer", "consumer"], **options: Any) -> Any:
    """A Producer or Consumer of `domain` (the keyword options of either)."""
    if role == "producer":
        return Producer(domain, **options)
    if role == "consumer":
        return Consumer(domain, **options)
    raise FieldValueError(f"role: {role!r}, expected 'producer' or 'consumer'", field="role")
