"""Reading back what a domain's JetStream stream holds, in stream order, with each message's
stream sequence and the time the server stored it:

    with StreamReader("market_data", servers=["nats://127.0.0.1:4222"],
                      start_sequence=100) as reader:
        while not reader.done:
            for stored in reader.read(timeout=0.2):
                capture.write(stored.data)       # whole frames of one type, as published

A reader starts at `start_sequence` or at the first message stored at or after `start_time`
(else at the stream's first), and is done once it has read the message that was the stream's
newest when it opened (or the first stored after `until`); with `follow=True` it goes on with
what is published later. It reads with an ephemeral pull consumer of its own, so that nothing
it reads is taken from the domain's live consumers, and it never waits on a message the stream
does not hold: a start past the end is refused when the reader opens.
"""
from __future__ import annotations

import asyncio
import datetime as _datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..wire.errors import FieldValueError
from . import _bus
from .errors import BusError
from .nats import (CONNECT_TIMEOUT, DEFAULT_PREFIX, RECONNECT_ATTEMPTS, _check_name,
                   _check_prefix, _client, _connect, _Events, _LoopThread, _servers,
                   stream_name)

FETCH_MESSAGES = 64        # messages asked of the server at once (each up to its max_payload)
IDLE_CONSUMER = 60.0       # seconds after which the server removes a reader's consumer it lost


class ReplayRangeError(BusError):
    """The stream holds nothing from where a reader was asked to start."""


@dataclass(frozen=True)
class StoredMessage:
    """One message of the stream: its sequence, the server's time of storing it, its subject
    (`<prefix>.<domain>.<MessageType name>`) and its payload (whole frames of that type)."""

    sequence: int
    stored: _datetime.datetime
    subject: str
    data: bytes

    @property
    def type_name(self) -> str:
        return self.subject.rsplit(".", 1)[-1]


def _aware(name: str, moment: _datetime.datetime | None) -> _datetime.datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise FieldValueError(f"{name}: expected an aware datetime (with tzinfo)", field=name)
    return moment


class StreamReader:
    """Reads a domain's stream from a sequence or a time (see the module's doc)."""

    def __init__(self, domain: str, *, servers: str | Iterable[str] | None = None,
                 subject_prefix: str = DEFAULT_PREFIX, start_sequence: int | None = None,
                 start_time: _datetime.datetime | None = None,
                 until: _datetime.datetime | None = None, follow: bool = False,
                 name: str | None = None, connect_timeout: float = CONNECT_TIMEOUT,
                 reconnect_attempts: int = RECONNECT_ATTEMPTS) -> None:
        self.domain = _check_name("domain", domain)
        self.prefix = _check_prefix(subject_prefix)
        self.servers = _servers(servers)
        self.stream = stream_name(self.prefix, self.domain)
        if start_sequence is not None and start_time is not None:
            raise FieldValueError("start_sequence and start_time: give one", field="start_time")
        if start_sequence is not None:
            _bus.positive("start_sequence", start_sequence)
        self.start_time = _aware("start_time", start_time)
        self.until = _aware("until", until)
        self.follow = follow
        self.events = _Events()
        self.done = False
        self.sequence: int | None = None   # of the newest message read
        self._loop = _LoopThread(f"nats-replay-{domain}")
        try:
            self._nc = self._loop.run(_connect(self.servers, name, connect_timeout,
                                               reconnect_attempts, self.events))
            self.last_sequence = self._loop.run(self._open(start_sequence))
        except _client().errors.Error as error:
            self._stop()
            raise BusError(f"NATS JetStream: reading stream {self.stream} failed: {error!r}"
                           ) from None
        except BaseException:
            self._stop()
            raise

    def _where(self) -> str:
        return f"stream {self.stream} ({self.prefix}.{self.domain}.>) on {', '.join(self.servers)}"

    async def _open(self, start_sequence: int | None) -> int:
        nats = _client()
        api = nats.js.api
        js = self._nc.jetstream()
        try:
            state = (await js.stream_info(self.stream)).state
        except nats.js.errors.NotFoundError:
            raise BusError(f"NATS JetStream: no {self._where()} (the domain's producers make"
                           " it when they publish with jetstream on)") from None
        now = _datetime.datetime.now(_datetime.timezone.utc)
        if not self.follow and self.start_time is not None and self.start_time > now:
            # nothing can be stored after it yet (and past 2262 the server's nanoseconds wrap)
            raise ReplayRangeError(f"NATS JetStream: {self._where()} holds no message since"
                                   f" {self.start_time.isoformat()}, a time still to come")
        if not self.follow and state.messages == 0:
            raise ReplayRangeError(f"NATS JetStream: {self._where()} holds no messages")
        if start_sequence is not None and not self.follow and start_sequence > state.last_seq:
            raise ReplayRangeError(
                f"NATS JetStream: start sequence {start_sequence} is past the end of"
                f" {self._where()}, whose sequences run {state.first_seq}-{state.last_seq}")
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL,
                                    ack_policy=api.AckPolicy.NONE, mem_storage=True,
                                    inactive_threshold=IDLE_CONSUMER)
        if start_sequence is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start_sequence
        elif self.start_time is not None:
            moment = self.start_time.astimezone(_datetime.timezone.utc)
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = moment.isoformat().replace("+00:00", "Z")
        self._subscription = await js.pull_subscribe(f"{self.prefix}.{self.domain}.>",
                                                     stream=self.stream, config=config)
        info = await self._subscription.consumer_info()
        self._consumer = info.name
        if not self.follow:
            if info.num_pending == 0:  # nothing stored at or after the start
                since = f"since {self.start_time.isoformat()}" if self.start_time else \
                    f"from sequence {start_sequence or state.first_seq}"
                raise ReplayRangeError(f"NATS JetStream: {self._where()} holds no message"
                                       f" {since} (its newest is sequence {state.last_seq})")
        return int(state.last_seq)

    def read(self, timeout: float = 1.0) -> list[StoredMessage]:
        """The next messages, in stream order (an empty list if none came within `timeout`);
        `done` tells when the end is reached."""
        if self.done:
            return []
        try:
            fetched = self._loop.run(self._fetch(timeout))
        except _client().errors.Error as error:
            raise BusError(f"NATS JetStream: reading {self._where()} failed: {error!r}"
                           ) from None
        found = []
        for message in fetched:
            metadata = message.metadata
            stored = metadata.timestamp
            if self.until is not None and stored > self.until:
                self.done = True
                break
            sequence = metadata.sequence.stream
            self.sequence = sequence
            # (a start time past 2262 wraps the server's nanoseconds: it starts at the first)
            if self.start_time is None or stored >= self.start_time:
                found.append(StoredMessage(sequence, stored, message.subject, message.data))
            if not self.follow and (sequence >= self.last_sequence or metadata.num_pending == 0):
                self.done = True
                break
        if not fetched and self.until is not None \
                and _datetime.datetime.now(_datetime.timezone.utc) > self.until:
            self.done = True  # following, and the clock has passed the end
        return found

    async def _fetch(self, timeout: float) -> list[Any]:
        try:
            return list(await self._subscription.fetch(FETCH_MESSAGES, timeout=max(timeout, 0.01)))
        except asyncio.TimeoutError:  # nats-py's own derives from it, and some states of its
            return []                 # wait let asyncio's through

    def _stop(self) -> None:
        self._loop.stop()

    def close(self) -> None:
        """Removes the reader's consumer and disconnects."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            if getattr(self, "_consumer", None) is not None:
                try:
                    self._loop.run(self._nc.jetstream().delete_consumer(
                        self.stream, self._consumer), timeout=10)
                except Exception:  # the server removes an idle consumer on its own
                    pass
            self._loop.run(self._nc.close(), timeout=10)
        finally:
            self._stop()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
