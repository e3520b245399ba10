"""What the commands that talk to a relay share: connecting as the command (reconnecting
when the relay restarts), finishing cleanly on SIGINT and SIGTERM, and a replay's sending:
frames of the domain paced by their timestamps, a rate or not at all, and the relay's
refusals told."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from ..relay import DOMAINS, Backoff, Producer
from ..relay.frames import CONTROL_TYPES
from ..schemas.schema import Schema
from ..transport.config import load_config
from ..transport.errors import BusError, RingError
from ..transport.select import connect
from ..wire._codec import Message
from ..wire.enums import MessageType
from ..wire.errors import ConfigError, RelayError, SchemaError
from .common import EXIT_BAD_ARGUMENTS, EXIT_UNREADABLE, CommandError
from ..transport.config import RELAYED

REPLAY_BATCH_FRAMES = 4096  # frames sent at once when they are due together
STOP_POLL = 0.1  # seconds a replay waiting for a frame's time may take to see a stop signal
RECONNECT = Backoff(give_up_after=None)


def connect_domain(options: argparse.Namespace, role: Literal["producer", "consumer"], *,
                   relay_only: bool = False, **extra: Any) -> Any:
    """The command's client of --domain: its relay's, reconnecting when the relay restarts,
    or of the transport --config gives the domain (unless ``relay_only``: then a domain off
    the relays is refused)."""
    endpoint = None
    if options.config:
        try:
            endpoint = load_config(options.config,
                                   runtime_dir=options.runtime_dir).endpoints[options.domain]
        except ConfigError as error:
            raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    if endpoint is None or endpoint.transport in RELAYED:
        extra["reconnect"] = RECONNECT
    elif relay_only:
        raise CommandError(f"{options.config}: {options.domain} is on {endpoint.transport},"
                           " not on a relay", EXIT_BAD_ARGUMENTS)
    try:
        return connect(options.domain, role, config=endpoint, runtime_dir=options.runtime_dir,
                       name=f"alphapulse {options.command}", **extra)
    except (RelayError, ConfigError, BusError, RingError) as error:
        raise CommandError(str(error), EXIT_UNREADABLE) from None



class Stopped(BaseException):
    """A stop signal that came while the command waited in a send: a BaseException, as
    KeyboardInterrupt is, so that no ``except Exception`` on its way up (the logging of a
    reconnection's attempts has one) takes it for an error and goes on."""


class Signals(list[int]):
    """The stop signals received; while ``waiting`` (in a send that may wait for as long as
    its relay is away, or holds its producers back), one also raises Stopped there."""

    waiting = False


@contextmanager
def stop_on_signals() -> Iterator[Signals]:
    """SIGINT and SIGTERM ask the command to finish cleanly: the list gets the signal."""
    received = Signals()

    def stop(number: int, _: Any) -> None:
        received.append(number)
        if received.waiting:
            received.waiting = False
            raise Stopped

    before = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


class Pacer:
    """When each frame is due: by its timestamp over --speed, by --rate, or at once."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.speed = options.speed or 1.0
        self.rate = options.rate
        self.unpaced = options.max
        self.started = time.monotonic()
        self.first_timestamp: int | None = None
        self.sent = 0

    def due(self, timestamp: int) -> float:
        if self.unpaced:
            return 0.0
        if self.rate:
            return self.started + self.sent / self.rate
        if self.first_timestamp is None:
            self.first_timestamp = timestamp
        # a timestamp earlier than the first (clocks of several sources) is due at once
        return self.started + max(0, timestamp - self.first_timestamp) / 1e9 / self.speed


def of_domain(message: Any, domain: str) -> bool:
    """Whether the relay of ``domain`` takes ``message``: a type of its range, a run-time
    type (the relay knows which were announced to it), or the announcement of a schema of the
    domain; never a relay's control frame."""
    message_type = message.header.message_type
    if message_type in CONTROL_TYPES:
        return False
    if message_type == MessageType.SchemaAnnouncement:
        try:
            return Schema.from_dict(json.loads(message.spec)).domain == domain
        except (SchemaError, ValueError, RecursionError):
            return True  # the relay refuses it, and says why
    return message_type in DOMAINS[domain] or message_type >= 200


def send_paced(producer: Any, messages: Iterable[Message | None],
               options: argparse.Namespace, pacer: Pacer, stopped: Signals) -> tuple[int, bool]:
    """Sends the messages of the domain as `pacer` times them, batched when due together (a
    None: the source has nothing more for now, so what is batched leaves); the count of those
    skipped (other domains, relay control), and whether a stop signal cut a send short (the
    producer is then closed: its relay is away, or not reading)."""
    pending = bytearray()
    pending_frames = 0
    skipped = 0

    def send() -> None:
        nonlocal pending_frames
        stopped.waiting = True  # a signal now ends a send that waits
        producer.send_batch(pending)
        stopped.waiting = False
        pending.clear()
        pending_frames = 0

    try:
        for item in messages:
            if stopped:
                break
            if item is None:
                if pending:
                    send()
                continue
            if not of_domain(item, options.domain):
                skipped += 1
                continue
            wait = pacer.due(item.header.timestamp) - time.monotonic()
            if (wait > 0 or pending_frames >= REPLAY_BATCH_FRAMES) and pending:
                send()
            if wait > 0 and not _waited(wait, stopped):
                break
            pending += item.to_bytes()
            pending_frames += 1
            pacer.sent += 1
        if pending:
            send()
    except Stopped:
        stopped.waiting = False
        producer.close()
        return skipped, True
    return skipped, False


def _waited(seconds: float, stopped: list[int]) -> bool:
    """Sleeps ``seconds`` unless a stop signal comes first (a sleep goes on after a signal's
    handler, and a recorded pause may last hours): whether it slept them all."""
    end = time.monotonic() + seconds
    while not stopped:
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, STOP_POLL))
    return False


def report_refusals(producer: Any, cut_short: bool = False) -> int:
    """Finishes the producer and prints what the relay refused (the first ten); their count.
    The other transports judge nothing once sent: their producer is flushed and closed. A
    producer whose send a stop signal cut short is closed already: what it was answered is
    told."""
    if cut_short:
        print("alphapulse: stopped in the middle of a send (the relay away, or not reading):"
              " its last frames may not have reached the relay", file=sys.stderr)
        answers = list(getattr(producer, "errors", []))
    elif isinstance(producer, Producer):
        producer.finish()  # the relay's answers to the very last frames too
        answers = producer.errors
    else:
        answers = producer.flush()
        producer.close()
    refused = [answer for answer in answers if answer.header.message_type == MessageType.Error]
    for answer in refused[:10]:
        print(f"alphapulse: refused: {answer.text}", file=sys.stderr)
    return len(refused)
