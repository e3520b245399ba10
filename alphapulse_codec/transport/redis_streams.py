"""Producers and consumers over Redis Streams (redis-py).

    with connect("market_data", "producer", url="redis://127.0.0.1:6379") as producer:
        producer.send_batch(ap.encode_batch(rows))   # XADD: several frames per entry
    with connect("market_data", "consumer", url=..., types=["Trade"]) as consumer:
        result = consumer.recv_batch(timeout=1.0)                   # fan-out: XREAD
    with connect("market_data", "consumer", url=..., group="risk") as consumer:
        result = consumer.recv_batch(timeout=1.0)      # load-shared: XREADGROUP + XACK

A domain is one stream, `<prefix>:<domain>`; an entry's field `frames` holds whole frames back
to back (`count`: how many). `max_queue_size` trims the stream (XADD MAXLEN ~) to about that
many frames. A single send is an entry of its own, written at once, unless `batch_frames` or
`batch_bytes` is given, which gathers single sends until an entry is full (or flush). A consumer without a group reads every entry (from `start_id`, default only
new ones); consumers sharing a `group` each get a share of the entries, acknowledged as they
are read. Types and sources are filtered on receipt, over each batch of entries.
"""
from __future__ import annotations

import os
import time
import uuid
from typing import Any, Literal

from ..relay.client import Gap
from ..wire.enums import GapReason
from ..wire.errors import FieldValueError
from ..wire.optional import require
from . import _bus
from .errors import BusConnectionError, BusError

DEFAULT_URL = "redis://127.0.0.1:6379"
DEFAULT_PREFIX = "alphapulse"
CONNECT_TIMEOUT = 5.0
READ_ENTRIES = 64           # entries one XREAD asks for
BLOCK_SLICE_MS = 500        # a blocking read's slice: close() is noticed within it
PIPELINE_ENTRIES = 64       # XADDs written before their replies are read
REPLY_TIMEOUT = 10.0        # seconds a server may leave a request unanswered: then it is lost


def _redis() -> Any:
    return require("redis", "the Redis Streams transport")


def stream_key(prefix: str, domain: str) -> str:
    return f"{prefix}:{domain}"


def _check(name: str, value: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise FieldValueError(f"{name}: {value!r}, expected a non-empty name without spaces",
                              field=name)
    return value


def _open(url: str, connect_timeout: float) -> Any:
    redis = _redis()
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=connect_timeout,
                                      socket_timeout=REPLY_TIMEOUT, health_check_interval=30)
        client.ping()
    except redis.exceptions.ConnectionError as error:
        raise BusConnectionError(f"Redis {url}: no connection ({error})") from None
    except ValueError as error:
        raise FieldValueError(f"url: {url!r}: {error}", field="url") from None
    return client


def _bus_error(url: str, error: BaseException) -> BusError:
    exceptions = _redis().exceptions
    if isinstance(error, (exceptions.ConnectionError, exceptions.TimeoutError)):
        return BusConnectionError(f"Redis {url}: connection lost ({error})")
    return BusError(f"Redis {url}: {error}")


class Producer(_bus.BatchingProducer):
    """Appends a domain's frames to its stream, several frames per entry. Each XADD is
    written as soon as its entry is full; the replies are read when PIPELINE_ENTRIES are
    waiting, and all of them at `send_batch`, `flush` and `close`, so that a frame waits for no
    round trip on its way. Where replies are read, entries the server refused raise BusError
    (which of those written since the last reply, and why), and a lost connection raises
    BusConnectionError saying how many written entries it leaves unconfirmed; the next send
    connects again."""

    by_type = False  # one stream holds every type: batches need not be split by type

    def __init__(self, domain: str, *, url: str = DEFAULT_URL, prefix: str = DEFAULT_PREFIX,
                 max_queue_size: int | None = None,
                 batch_frames: int | None = None, batch_bytes: int | None = None,
                 verify: bool = True, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(batch_frames, batch_bytes, verify)
        self.domain = _check("domain", domain)
        self.key = stream_key(_check("prefix", prefix), domain)
        self.url = url
        self.max_queue_size = (None if max_queue_size is None
                               else _bus.positive("max_queue_size", max_queue_size))
        self._client = _open(url, connect_timeout)
        try:
            self._connection = self._client.connection_pool.get_connection()
        except _redis().exceptions.RedisError as error:
            self._client.close()
            raise _bus_error(url, error) from None
        self._unanswered = 0

    def _publish(self, message_type: int, data: bytes | memoryview, frames: int) -> None:
        redis = _redis()
        try:
            # no PING before it: its answer would be read in the place of an XADD's
            self._connection.send_command("XADD", self.key, *self._trim(frames), "*", "frames",
                                          bytes(data), "count", frames, check_health=False)
        except redis.exceptions.RedisError as error:
            raise self._lost(error, "this entry was not written") from None
        self._unanswered += 1
        if self._unanswered >= PIPELINE_ENTRIES:
            self._collect()

    def _trim(self, frames: int) -> tuple[Any, ...]:
        """MAXLEN of an entry of `frames` frames: as many entries of its size as make
        max_queue_size frames. Redis trims by entries, whatever they hold: a stream of entries
        of one size keeps about max_queue_size frames."""
        if self.max_queue_size is None:
            return ()
        return ("MAXLEN", "~", max(1, -(-self.max_queue_size // frames)))

    def _collect(self) -> None:
        """Read the replies of every XADD written since the last reply."""
        redis = _redis()
        written, refusals = self._unanswered, []
        for index in range(written):
            try:
                self._connection.read_response()
            except redis.exceptions.ResponseError as error:
                refusals.append(f"entry {index + 1}: {error}")
            except redis.exceptions.RedisError as error:
                self._unanswered = written - index
                raise self._lost(error) from None
        self._unanswered = 0
        if refusals:
            raise BusError(f"Redis {self.url}: {len(refusals)} of the {written} entries written"
                           f" since the last reply refused ({'; '.join(refusals[:3])}"
                           f"{'; ...' if len(refusals) > 3 else ''})")

    def _lost(self, error: BaseException, more: str = "") -> BusError:
        """The connection given up (the next send opens another): the error to raise, with the
        entries written on it whose replies never came."""
        unconfirmed, self._unanswered = self._unanswered, 0
        self._connection.disconnect()
        said = [f"{unconfirmed} entries written since the last reply may not have been added"
                if unconfirmed else "", more]
        detail = "; ".join(part for part in said if part)
        failure = _bus_error(self.url, error)
        return type(failure)(f"{failure}{'; ' + detail if detail else ''}")

    def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        count = super().send_batch(buffer)
        self._collect()
        return count

    def _flush_bus(self) -> None:
        self._collect()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self._client.connection_pool.release(self._connection)
            self._client.close()


class Consumer(_bus.FilteringConsumer):
    """Reads a domain's stream: every entry (fan-out, from `start_id`: "$" new entries only,
    "0" from the oldest kept), or with `group` a share of them (XREADGROUP, acknowledged on
    receipt; the group is created at `start_id` when absent). Gaps: sequence jumps per source
    (for a consumer of every type and no group) and entries trimmed before it read them."""

    def __init__(self, domain: str, *, url: str = DEFAULT_URL, prefix: str = DEFAULT_PREFIX,
                 types: Any = None, sources: Any = None, group: str | None = None,
                 name: str | None = None, start_id: str = "$", verify: bool = True,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 read_entries: int = READ_ENTRIES) -> None:
        super().__init__(types, sources, verify, track_sequences=types is None and group is None)
        self.domain = _check("domain", domain)
        self.key = stream_key(_check("prefix", prefix), domain)
        self.url = url
        self.group = None if group is None else _check("group", group)
        self.name = _check("name", name or f"{os.uname().nodename}-{os.getpid()}-"
                                           f"{uuid.uuid4().hex[:8]}")
        self.read_entries = _bus.positive("read_entries", read_entries)
        self._client = _open(url, connect_timeout)
        try:
            self.ordinal: int | None = None  # entries the stream had added up to last_id
            if self.group is not None:
                self._create_group(start_id)
                self.last_id = ">"
            else:
                self.last_id, self.ordinal = self._resolve(start_id)
        except _redis().exceptions.RedisError as error:
            raise _bus_error(url, error) from None

    def _create_group(self, start_id: str) -> None:
        try:
            self._client.xgroup_create(self.key, self.group, id=start_id, mkstream=True)
        except _redis().exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _counts(self) -> tuple[int, int, str | None]:
        """Entries ever added to the stream, entries it keeps, the oldest kept's id."""
        try:
            info = self._client.xinfo_stream(self.key)
        except _redis().exceptions.ResponseError:  # no stream yet
            return 0, 0, None
        first = info.get("first-entry")
        return (int(info["entries-added"]), int(info["length"]),
                first[0].decode() if first else None)

    def _resolve(self, start_id: str) -> tuple[str, int | None]:
        """Where a fan-out consumer starts, and how many entries the stream had added up to
        there (known for "$" and "0": what trimming takes is then counted)."""
        added, length, _ = self._counts()
        if start_id == "$":
            newest = self._client.xrevrange(self.key, count=1)
            return (newest[0][0].decode() if newest else "0-0"), added
        if start_id in ("0", "0-0"):
            return "0-0", added - length
        return start_id, None

    def _fetch(self, timeout: float | None) -> list[bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            left = None if deadline is None else deadline - time.monotonic()
            block = BLOCK_SLICE_MS if left is None else min(BLOCK_SLICE_MS, int(left * 1000))
            try:
                entries = self._read(block if block > 0 else None)
            except (_redis().exceptions.RedisError, ValueError) as error:
                if self.closed:  # by another thread, its connection closed under this read
                    break
                if isinstance(error, ValueError):
                    raise
                raise _bus_error(self.url, error) from None
            if entries:
                return entries
            if deadline is not None and time.monotonic() >= deadline:
                break
        return []

    def _read(self, block_ms: int | None) -> list[bytes]:
        if self.group is not None:
            answer = self._client.xreadgroup(self.group, self.name, {self.key: ">"},
                                             count=self.read_entries, block=block_ms)
            entries = answer[0][1] if answer else []
            if entries:
                self._client.xack(self.key, self.group, *[entry_id for entry_id, _ in entries])
            return [fields[b"frames"] for _, fields in entries if b"frames" in fields]
        pipeline = self._client.pipeline(transaction=False)
        pipeline.xrange(self.key, self.last_id, self.last_id, count=1)
        pipeline.xread({self.key: self.last_id}, count=self.read_entries, block=block_ms)
        still_there, answer = pipeline.execute()
        entries = answer[0][1] if answer else []
        if entries and self.ordinal is not None and not still_there:
            self._check_trimmed(entries[0][0].decode())
        if entries:
            if self.ordinal is not None:
                self.ordinal += len(entries)
            self.last_id = entries[-1][0].decode()
        return [fields[b"frames"] for _, fields in entries if b"frames" in fields]

    def _check_trimmed(self, first_read: str) -> None:
        """The entry last read is gone: the oldest kept entry is the first one read now, and
        the entries between the two (counted from the stream's totals) were trimmed unread."""
        added, length, oldest = self._counts()
        if oldest != first_read or self.ordinal is None:
            self.ordinal = None  # trimmed again since the read: the count is lost until "$"
            return
        skipped = added - length - self.ordinal
        if skipped > 0:
            self._report(Gap(None, GapReason.Trimmed, self.ordinal + 1,
                             self.ordinal + skipped, None, True))
            self.ordinal += skipped

    def _where(self) -> str:
        return f"Redis {self.url} {self.key}"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._client.close()




def connect(domain: str, role: Literal["producer", "consumer"], **options: Any) -> Any:
    """A Producer or Consumer of `domain` (the keyword options of either)."""
    if role == "producer":
        return Producer(domain, **options)
    if role == "consumer":
        return Consumer(domain, **options)
    raise FieldValueError(f"role: {role!r}, expected 'producer' or 'consumer'", field="role")


__all__ = ["Consumer", "Producer", "connect", "stream_key"]
