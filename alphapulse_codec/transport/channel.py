"""The in-process channel: a bounded broadcast of frames between the threads and asyncio tasks
of one process, with the relay clients' API (docs/transports.md, "Channel").

    channel = Channel.get("market_data")             # the process's channel of the domain
    with connect("market_data", "producer", sequence="auto") as producer:
        producer.send_batch(ap.encode_batch(rows))   # checked as the relay checks frames
    with connect("market_data", "consumer", types=["Trade"]) as consumer:
        frames = consumer.recv_bytes(timeout=1.0)    # the producer's own bytes, not a copy

A producer's ``send_batch`` becomes one immutable block, linked after the previous one; every
consumer keeps its own position in the list of blocks and reads the block's bytes where they
are. Blocks nobody will read again are freed by the garbage collector. ``capacity`` bounds the
frames a consumer may leave unread: past it, the domain's policy sheds its oldest frames (a
``Gap`` with GapReason.Shed per source) or makes producers wait (``BackpressureTimeout`` after
``timeout`` seconds).
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar, Literal

from ..capture.batch import BatchResult, decode_batch
from ..relay import frames, sendable
from ..relay._route import ANNOUNCE_CODE, Sequencer
from ..relay.client import Gap, _policy, positive
from ..relay.policy import DomainPolicy
from ..relay.server import _describe, type_codes
from ..schemas.schema import Schema
from ..wire._codec import DEFAULT_MAX_FRAME_SIZE, decode
from ..wire.enums import GapReason, RelayCode
from ..wire.errors import (FieldValueError, ParseError, RelayClosedError, RelayTimeoutError,
                           SchemaError)
from ._channel import Judge, lost, select
from .errors import BackpressureTimeout

EVERYTHING = frames.EVERYTHING
# a read hands over a block of at least this many bytes alone, as the producer's own bytes
# object; smaller blocks (single sends) are joined into one buffer up to max_frames
WHOLE_BLOCK_BYTES = 16 << 10


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise FieldValueError(f"{what}: expected seconds >= 0 or None, got {value!r}",
                              field=what)
    return float(value)


class _Block:
    """The frames of one send, whole, and where they stand in the channel's stream."""

    __slots__ = ("data", "frames", "first", "next")

    def __init__(self, data: bytes, frames_: int, first: int) -> None:
        self.data = data
        self.frames = frames_
        self.first = first           # the channel's count of frames before this block
        self.next: _Block | None = None


def _wake_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Channel:
    """One domain's broadcast of frames inside this process.

    ``Channel.get(name)`` gives the process's channel of that name (a domain's name for its
    own channel), made on first use; ``Channel(domain, ...)`` a private one. ``capacity`` is
    the frames a consumer may leave unread (the domain policy's ``max_queue_size`` when None).
    """

    _named: ClassVar[dict[str, Channel]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, domain: str, *, config: Any = None, capacity: int | None = None,
                 max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, name: str | None = None) -> None:
        self.policy: DomainPolicy = _policy(domain, config, None)
        self.domain = domain
        self.name = name or domain
        self.capacity = positive(capacity if capacity is not None else
                                  self.policy.max_queue_size, "capacity")
        self.max_frame_size = positive(max_frame_size, "max_frame_size")
        self.sheds = self.policy.overflow == "shed"
        self._judge = Judge(type_codes(domain), max_frame_size, self.policy.validate_checksums,
                            self.policy.require_sequence)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tail = _Block(b"", 0, 0)  # consumers start after it
        self._end = 0                   # frames sent so far
        # a consumer dropped without close() stops counting when it is collected, so that it
        # holds no producer back and keeps no block alive
        self._consumers: list[weakref.ref[Consumer]] = []
        self._blocked_threads = 0       # threads waiting in _changed
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.closed = False

    def __repr__(self) -> str:
        return (f"Channel({self.name!r}, domain={self.domain!r}, capacity={self.capacity},"
                f" consumers={len(self._readers())}, frames_sent={self._end})")

    @classmethod
    def get(cls, name: str, *, domain: str | None = None, config: Any = None,
            capacity: int | None = None) -> Channel:
        """The process's channel ``name`` (of ``domain``, ``name`` itself when None), made on
        first use; a later call that asks for another domain or capacity is refused."""
        domain = name if domain is None else domain
        with cls._named_lock:
            channel = cls._named.get(name)
            if channel is None or channel.closed:
                channel = cls._named[name] = cls(domain, config=config, capacity=capacity,
                                                 name=name)
                return channel
        if channel.domain != domain:
            raise FieldValueError(f"channel {name!r} carries {channel.domain}, not {domain}",
                                  field="domain")
        if capacity is not None and capacity != channel.capacity:
            raise FieldValueError(f"channel {name!r} exists with capacity {channel.capacity},"
                                  f" not {capacity}", field="capacity")
        return channel

    def producer(self, *, source: int | str | None = None,
                 sequence: Literal["auto"] | None = None, name: str | None = None,
                 timeout: float | None = None) -> Producer:
        """A producer writing as ``source``; ``sequence="auto"`` numbers its frames per source,
        on from the channel's last one. ``timeout``: seconds a send waits for room on a channel
        that makes producers wait (the policy's ``stuck_timeout`` when None)."""
        if sequence not in (None, "auto"):
            raise FieldValueError(f"sequence: {sequence!r} is not None or 'auto'",
                                  field="sequence")
        number = frames._number(source, "sources") if source is not None else 0
        wait = _seconds(timeout, "timeout")
        return Producer(self, number, sequence == "auto", name or "",
                        self.policy.stuck_timeout if wait is None else wait)

    def consumer(self, *, types: Iterable[int | str] | None = None,
                 sources: Iterable[int | str] | None = None, name: str | None = None) -> Consumer:
        """A consumer of the frames sent from now on whose types and sources it names (all
        when None)."""
        consumer = Consumer(self, frames.mask(types, "types"), frames.mask(sources, "sources"),
                            name or "")
        with self._lock:
            if self.closed:
                raise RelayClosedError(f"{self.name} channel: closed")
            consumer._block = self._tail
            consumer._offset = len(self._tail.data)
            consumer._index = self._tail.frames
            self._consumers.append(weakref.ref(consumer))
        return consumer

    def close(self) -> None:
        """No more frames: producers' sends are refused, consumers read what is left and then
        find the channel closed. ``Channel.get`` makes a new channel of the name after it."""
        with self._lock:
            self.closed = True
            self._wake()
        with Channel._named_lock:
            if Channel._named.get(self.name) is self:
                del Channel._named[self.name]

    # ---- under the lock ------------------------------------------------------------------

    def _wake(self) -> None:
        """Wake every waiting reader and writer, threads and asyncio tasks: each looks again."""
        if self._blocked_threads:
            self._changed.notify_all()
        if self._futures:
            for loop, future in self._futures:
                try:
                    loop.call_soon_threadsafe(_wake_future, future)
                except RuntimeError:  # its loop is closed: nobody waits there any more
                    pass
            self._futures.clear()

    def _future(self) -> asyncio.Future[None]:
        """A future the next change resolves, for a task that waits in its loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._futures.append((loop, future))
        return future

    def _room_for(self, count: int) -> bool:
        if self.sheds:
            return True
        return all(self._end - c._position() + count <= self.capacity for c in self._readers())

    def _publish(self, producer: Producer, data: bytes, count: int) -> int | None:
        """Judge ``data`` (``count`` whole frames) and append what passes; None when the policy
        makes producers wait and a consumer has no room for them."""
        if self.closed:
            raise RelayClosedError(f"{self.name} channel: closed, no more frames are taken")
        if not self._room_for(count):
            return None
        data, count = self._accepted(producer, data, count)
        if count:
            block = _Block(data, count, self._end)
            self._tail.next = block
            self._tail = block
            self._end += count
            if self.sheds:
                for consumer in self._readers():
                    behind = self._end - consumer._position()
                    if behind > self.capacity:  # shed to half, as the relay does
                        consumer._shed(behind - max(self.capacity // 2, count))
            self._wake()
        return count

    def _accepted(self, producer: Producer, data: bytes, count: int) -> tuple[bytes, int]:
        """The frames of ``data`` the domain accepts, and how many: the others are answered to
        the producer as the relay answers them (an Error each, in ``producer.errors``)."""
        refused: list[tuple[int, int]] = []
        at = 0
        while at < len(data):
            at, notable = self._judge.judge(data, at)
            for offset, size, code, message_type, source, sequence, jump in notable:
                if code == ANNOUNCE_CODE:
                    code = self._judge_announcement(memoryview(data)[offset:offset + size])
                if code:
                    refused.append((offset, size))
                    producer._answer(frames.error(
                        self.domain, code=code, related_type=message_type,
                        related_sequence=sequence,
                        text=f"frame at byte {offset} of this send: "
                             + _describe(code, message_type, self.domain, self.max_frame_size)))
                elif jump:
                    self._jumped(source, jump, sequence)
        if not refused:
            return data, count
        view = memoryview(data)
        kept, start = [], 0
        for offset, size in refused:
            kept.append(view[start:offset])
            start = offset + size
        kept.append(view[start:])
        return b"".join(kept), count - len(refused)

    def _judge_announcement(self, frame: memoryview) -> int:
        """A SchemaAnnouncement passes when its schema names this domain (as at the relay);
        the type it describes is accepted from then on."""
        try:
            schema = Schema.from_dict(json.loads(decode(frame).spec))
        except (ParseError, SchemaError, ValueError, RecursionError):
            return int(RelayCode.SchemaRefused)
        if getattr(schema, "domain", None) != self.domain or not 200 <= schema.message_type <= 255:
            return int(RelayCode.SchemaRefused)
        self._judge.allow(schema.message_type)
        return 0

    def _jumped(self, source: int, first: int, sequence: int) -> None:
        """A source's numbering skipped ``first`` to ``sequence - 1`` on a domain that requires
        sequences: its consumers are told, as the relay's GapNotice tells them."""
        lost = sequence - first
        gap = Gap(source, GapReason.SequenceJump, first, sequence - 1, lost, True)
        for consumer in self._readers():
            if consumer._source_mask[source >> 3] >> (source & 7) & 1:
                consumer.gaps.append(gap)
                consumer.frames_lost += lost

    def _readers(self) -> list[Consumer]:
        """The consumers still open and referenced; the others are forgotten."""
        readers = [c for ref in self._consumers if (c := ref()) is not None]
        if len(readers) != len(self._consumers):
            self._consumers = [weakref.ref(c) for c in readers]
        return readers

    def _drop(self, consumer: Consumer) -> None:
        readers = self._readers()
        if consumer in readers:
            self._consumers = [weakref.ref(c) for c in readers if c is not consumer]
            self._wake()  # producers it held back


class _Client:
    def __init__(self, channel: Channel, name: str) -> None:
        self.channel = channel
        self.domain = channel.domain
        self.policy = channel.policy
        self.name = name
        self.max_frame_size = channel.max_frame_size
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self, doing: str) -> None:
        if self._closed:
            raise RelayClosedError(f"{self.channel.name} channel: {doing} on a closed"
                                   f" {type(self).__name__.lower()}")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True


class Producer(_Client):
    """Sends frames into a channel. ``errors`` holds the answers to frames the domain refused
    (an Error message each, as a relay sends them); ``flush`` returns those since the last."""

    def __init__(self, channel: Channel, source: int, auto_sequence: bool, name: str,
                 timeout: float) -> None:
        super().__init__(channel, name)
        self.source = source
        self.timeout = timeout
        self.errors: list[Any] = []
        self._unread: list[Any] = []
        self._sequencer = Sequencer() if auto_sequence else None
        if self._sequencer is not None:
            with channel._lock:
                resume = channel._judge.next_sequence(source)
            if resume:
                self._sequencer.resume(source, resume)

    def next_sequence(self, source: int | None = None) -> int:
        """The sequence the next frame of ``source`` (the declared one by default) gets."""
        if self._sequencer is None:
            raise FieldValueError("sequence numbers are the caller's: make the producer with"
                                  " sequence='auto' to have them counted", field="sequence")
        return int(self._sequencer.next(self.source if source is None else source))

    def _answer(self, error_frame: bytes) -> None:
        answer = decode(error_frame)
        self.errors.append(answer)
        self._unread.append(answer)

    def _prepared(self, data: Any, single: bool) -> tuple[bytes, int]:
        """The bytes of the block to send (numbered with sequence="auto") and its frames;
        bytes that are not whole frames are refused here, with the byte offset."""
        self._check_open("send")
        data = sendable.one_frame(data) if single else sendable.frames_buffer(data)
        count = self.channel._judge.count(data)
        if single and count != 1:
            raise FieldValueError(f"send takes one frame, got {count}: use send_batch",
                                  field="message")
        if count > self.channel.capacity:
            raise FieldValueError(f"a batch of {count} frames is over the {self.channel.name}"
                                  f" channel's capacity of {self.channel.capacity}: send it in"
                                  " parts", field="buffer")
        # checked before numbering: a refused send takes no sequence
        if self._sequencer is not None:
            stamped = bytearray(data)
            self._sequencer.stamp(stamped, self.max_frame_size)
            block = bytes(stamped)
        else:
            # the caller may reuse a buffer of its own: the block must not change under readers
            block = data if type(data) is bytes else bytes(data)
        return block, count

    def _no_room(self) -> BackpressureTimeout:
        channel = self.channel
        slowest = max(channel._readers(), key=lambda c: channel._end - c._position(),
                      default=None)
        who = f" (the slowest, {slowest.name or 'unnamed'}, has" \
              f" {channel._end - slowest._position()} unread)" if slowest else ""
        return BackpressureTimeout(f"{channel.name} channel: no room for the frames within"
                                   f" {self.timeout:g} s: its consumers may leave"
                                   f" {channel.capacity} frames unread{who}")

    def _send(self, data: Any, single: bool) -> int:
        block, count = self._prepared(data, single)
        channel = self.channel
        deadline = time.monotonic() + self.timeout
        with channel._lock:
            while (sent := channel._publish(self, block, count)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._no_room()
                channel._blocked_threads += 1
                try:
                    channel._changed.wait(left)
                finally:
                    channel._blocked_threads -= 1
                self._check_open("send")
        return sent

    def send(self, message: Any) -> None:
        """Send one message or one frame's bytes."""
        self._send(message, True)

    def send_batch(self, buffer: Any) -> int:
        """Send whole frames back to back (``encode_batch`` output, a capture's bytes) as one
        block; returns how many frames the domain accepted."""
        return self._send(buffer, False)

    def flush(self) -> list[Any]:
        """Every frame sent is in the channel already; returns the Error answers to refused
        frames since the last look (also in ``errors``)."""
        self._check_open("flush")
        answers, self._unread = self._unread, []
        return answers


class Consumer(_Client):
    """Reads the frames of its subscription from the channel, at its own pace. ``gaps`` lists
    what it lost: frames shed because it fell ``capacity`` frames behind on a shedding domain,
    and sequence jumps on a domain that requires sequences."""

    def __init__(self, channel: Channel, type_mask: bytes, source_mask: bytes, name: str) -> None:
        super().__init__(channel, name)
        self._type_mask = type_mask
        self._source_mask = source_mask
        self._everything = type_mask == EVERYTHING and source_mask == EVERYTHING
        self.gaps: list[Gap] = []
        self.frames_lost = 0
        self._block: _Block = channel._tail
        self._offset = 0   # byte of the block to read next
        self._index = 0    # frames of the block before it

    def _position(self) -> int:
        return self._block.first + self._index

    def _shed(self, count: int) -> None:
        """Drop the ``count`` oldest frames left to read: a Gap per source of those it wanted."""
        runs: dict[int, list[int]] = {}
        while count:
            block = self._block
            if self._offset == len(block.data):
                if block.next is None:
                    break
                self._block, self._offset, self._index = block.next, 0, 0
                continue
            end, scanned, by_source = lost(block.data, self._offset, count, self._type_mask,
                                           self._source_mask)
            for source, first, last, frames_ in by_source:
                run = runs.setdefault(source, [first, last, 0])
                run[1] = last
                run[2] += frames_
            self._offset = end
            self._index += scanned
            count -= scanned
        for source, (first, last, frames_) in sorted(runs.items()):
            self.gaps.append(Gap(source, GapReason.Shed, first, last, frames_, True))
            self.frames_lost += frames_

    def _taken(self, max_frames: int) -> bytes | memoryview | None:
        """The next wanted frames, at most ``max_frames``, back to back (None when there are
        none yet): a block's own bytes or a view of them where they are contiguous, else one
        buffer gathering them. Holds the channel's lock."""
        pieces: list[bytes | memoryview] = []
        taken = 0
        block, offset, index = self._block, self._offset, self._index
        while taken < max_frames:
            data = block.data
            if offset == len(data):
                following = block.next
                # a large block goes alone, as it is: only small ones are joined
                if following is None or pieces and (len(data) >= WHOLE_BLOCK_BYTES or
                                                    len(following.data) >= WHOLE_BLOCK_BYTES):
                    break
                block, offset, index = following, 0, 0
                continue
            if self._everything and offset == 0 and block.frames <= max_frames - taken:
                end, scanned, got, picked = len(data), block.frames, block.frames, None
            else:
                end, scanned, got, picked = select(data, offset, max_frames - taken,
                                                   self._type_mask, self._source_mask)
            if got:
                if picked is not None:
                    pieces.append(picked)
                elif offset == 0 and end == len(data):
                    pieces.append(data)
                else:
                    pieces.append(memoryview(data)[offset:end])
            taken += got
            offset = end
            index += scanned
        self._block, self._offset, self._index = block, offset, index
        if not pieces:
            return None
        if self.channel.sheds is False:
            self.channel._wake()  # producers waiting for room
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _take(self, max_frames: int, timeout: float | None) -> bytes | memoryview:
        """Wanted frames, at most ``max_frames``, waiting up to ``timeout`` for the first;
        empty when none came."""
        self._check_open("receive")
        channel = self.channel
        deadline = None if timeout is None else time.monotonic() + timeout
        with channel._lock:
            while (data := self._taken(max_frames)) is None:
                if channel.closed:
                    raise RelayClosedError(f"{channel.name} channel: closed, and every frame"
                                           " sent was read")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return b""
                channel._blocked_threads += 1
                try:
                    channel._changed.wait(left)
                finally:
                    channel._blocked_threads -= 1
                self._check_open("receive")
        return data

    def recv(self, timeout: float | None = None) -> Any:
        """The next message, waiting up to ``timeout`` seconds (forever when None); a view of
        the producer's bytes, which nothing changes."""
        data = self._take(1, _seconds(timeout, "timeout"))
        if not data:
            raise RelayTimeoutError(f"{self.channel.name} channel: no frame within"
                                    f" {timeout:g} s")
        return decode(data, max_frame_size=self.max_frame_size)

    def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """The next frames, whole and back to back, at most ``max_frames``; empty when none
        came within ``timeout``. A whole block sent by a producer comes as its own bytes."""
        data = self._take(positive(max_frames, "max_frames"), _seconds(timeout, "timeout"))
        return data if type(data) is bytes else bytes(data)

    def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                   verify: bool = True) -> BatchResult:
        """The next frames, at most ``max_frames``, decoded into arrays per type
        (``decode_batch``); an empty result when none came within ``timeout``."""
        data = self._take(positive(max_frames, "max_frames"), _seconds(timeout, "timeout"))
        return decode_batch(data, verify=verify, max_frame_size=self.max_frame_size)

    def __iter__(self) -> Iterator[Any]:
        """Messages until the channel or this consumer is closed."""
        while not self._closed:
            try:
                yield self.recv()
            except RelayClosedError:
                return

    def close(self) -> None:
        with self.channel._lock:
            self._closed = True
            self.channel._drop(self)


def connect(domain: str, role: Literal["producer", "consumer"], *,
            types: Iterable[int | str] | None = None, sources: Iterable[int | str] | None = None,
            name: str | None = None, config: Any = None, source: int | str | None = None,
            sequence: Literal["auto"] | None = None, capacity: int | None = None,
            timeout: float | None = None, channel: str | None = None) -> Producer | Consumer:
    """A producer or consumer of the process's channel of ``domain`` (or the channel named
    ``channel``), with the arguments of ``relay.connect``: the relay clients' API in one
    process."""
    if role not in ("producer", "consumer"):
        raise FieldValueError(f"role: {role!r} is not 'producer' or 'consumer'", field="role")
    shared = Channel.get(channel or domain, domain=domain, config=config, capacity=capacity)
    if role == "producer":
        if types is not None or sources is not None:
            raise FieldValueError("types and sources subscribe a consumer; a producer takes"
                                  " source=", field="types")
        return shared.producer(source=source, sequence=sequence, name=name, timeout=timeout)
    if source is not None or sequence is not None:
        raise FieldValueError("source and sequence belong to a producer", field="source")
    return shared.consumer(types=types, sources=sources, name=name)


class AsyncProducer:
    """A channel's producer for asyncio: a send that has to wait for room awaits it, and the
    loop runs meanwhile."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self.channel = producer.channel
        self.domain = producer.domain
        self.policy = producer.policy

    @property
    def errors(self) -> list[Any]:
        return self._producer.errors

    @property
    def closed(self) -> bool:
        return self._producer.closed

    def next_sequence(self, source: int | None = None) -> int:
        return self._producer.next_sequence(source)

    async def _send(self, data: Any, single: bool) -> int:
        producer, channel = self._producer, self.channel
        block, count = producer._prepared(data, single)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + producer.timeout
        while True:
            with channel._lock:
                sent = channel._publish(producer, block, count)
                if sent is not None:
                    return sent
                room = channel._future()
            try:
                await asyncio.wait_for(room, max(0.0, deadline - loop.time()))
            except TimeoutError:
                with channel._lock:
                    raise producer._no_room() from None
            producer._check_open("send")

    async def send(self, message: Any) -> None:
        await self._send(message, True)

    async def send_batch(self, buffer: Any) -> int:
        return await self._send(buffer, False)

    async def flush(self) -> list[Any]:
        return self._producer.flush()

    async def close(self) -> None:
        self._producer.close()

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


class AsyncConsumer:
    """A channel's consumer for asyncio: waiting for frames awaits a future the producer
    resolves (through the loop's call_soon_threadsafe, from any thread)."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.channel = consumer.channel
        self.domain = consumer.domain
        self.policy = consumer.policy

    @property
    def gaps(self) -> list[Gap]:
        return self._consumer.gaps

    @property
    def frames_lost(self) -> int:
        return self._consumer.frames_lost

    @property
    def closed(self) -> bool:
        return self._consumer.closed

    async def _take(self, max_frames: int, timeout: float | None) -> bytes | memoryview:
        consumer, channel = self._consumer, self.channel
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            consumer._check_open("receive")
            with channel._lock:
                data = consumer._taken(max_frames)
                if data is not None:
                    return data
                if channel.closed:
                    raise RelayClosedError(f"{channel.name} channel: closed, and every frame"
                                           " sent was read")
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    return b""
                more = channel._future()
            try:
                await asyncio.wait_for(more, left)
            except TimeoutError:
                pass

    async def recv(self, timeout: float | None = None) -> Any:
        data = await self._take(1, _seconds(timeout, "timeout"))
        if not data:
            raise RelayTimeoutError(f"{self.channel.name} channel: no frame within"
                                    f" {timeout:g} s")
        return decode(data, max_frame_size=self._consumer.max_frame_size)

    async def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        data = await self._take(positive(max_frames, "max_frames"), _seconds(timeout, "timeout"))
        return data if type(data) is bytes else bytes(data)

    async def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                         verify: bool = True) -> BatchResult:
        data = await self._take(positive(max_frames, "max_frames"), _seconds(timeout, "timeout"))
        return decode_batch(data, verify=verify, max_frame_size=self._consumer.max_frame_size)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while not self._consumer.closed:
            try:
                yield await self.recv()
            except RelayClosedError:
                return

    async def close(self) -> None:
        self._consumer.close()

    async def __aenter__(self) -> AsyncConsumer:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()


async def aio_connect(domain: str, role: Literal["producer", "consumer"],
                      **options: Any) -> AsyncProducer | AsyncConsumer:
    """``connect`` for asyncio: an AsyncProducer or an AsyncConsumer of the channel."""
    client = connect(domain, role, **options)
    return AsyncProducer(client) if isinstance(client, Producer) else AsyncConsumer(client)
