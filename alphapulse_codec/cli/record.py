"""``alphapulse record``: what a relay's consumer receives, written as a capture;
``alphapulse replay``: a capture fed to a relay, with its recorded timing, at a fixed rate or
as fast as it goes."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Literal, cast

from ..capture.batch import BadStretch
from ..relay import DOMAINS, Backoff, Consumer, Producer, connect
from ..relay._route import count_frames
from ..relay.frames import CONTROL_TYPES
from ..wire.enums import GapReason, MessageType
from ..schemas.schema import Schema
from ..wire.errors import ConfigError, RelayError, SchemaError
from .common import (EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError,
                     add_capture_options, command, command_registry, positive_int, wanted_types,
                     written)
from .reading import read_capture
from .relay import policies

RECORD = """\
Subscribe to one relay and write every frame received, byte for byte, to a capture (frames
back to back: decode, stats and decode_batch read it), gap notices included. Runs until
--duration or --frames is reached, or SIGINT / SIGTERM; the capture is written to a temporary
file and renamed when done, so it appears whole. A relay that restarts is reconnected."""

RECORD_EXAMPLES = """\
  alphapulse record --domain market_data -o md.bin --duration 10
  alphapulse record --domain execution -o orders.bin --types Fill,ExecutionReport
  alphapulse record --domain signals -o signals.bin --frames 100000
"""

REPLAY = """\
Send the frames of a capture to one relay as a producer: with the timing of their headers'
timestamps (--speed, default 1.0 = as recorded), at a fixed --rate, or --max as fast as the
relay takes them. Frames of other domains and relay control frames are skipped and counted.
Bad stretches of the capture are reported on stderr and skipped; frames the relay refuses are
reported at the end; exit 1 if there was any."""

REPLAY_EXAMPLES = """\
  alphapulse replay md.bin --domain market_data
  alphapulse replay md.bin --domain market_data --speed 10
  alphapulse replay orders.bin --domain execution --rate 5000
  alphapulse replay session.bin --domain market_data --max
"""

RECORD_POLL = 0.2           # seconds between looks at the stop signal and the clock
ARRIVED_WAIT = 0.01         # after the stop signal: a look at the socket for what had arrived
REPLAY_BATCH_FRAMES = 4096  # frames sent at once when they are due together
RECONNECT = Backoff(give_up_after=None)


def _connect(options: argparse.Namespace, role: Literal["producer", "consumer"],
             **extra: Any) -> Producer | Consumer:
    try:
        return connect(options.domain, role,
                       config=policies(options), name=f"alphapulse {options.command}",
                       reconnect=RECONNECT, **extra)
    except (RelayError, ConfigError) as error:
        raise CommandError(str(error), EXIT_UNREADABLE) from None


@contextmanager
def _stop_on_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM ask the command to finish cleanly: the list gets the signal."""
    received: list[int] = []

    def stop(number: int, _: Any) -> None:
        received.append(number)

    before = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def _arrived(consumer: Consumer, wanted: int) -> bytes:
    """The whole frames already received or waiting in the socket, at most ``wanted``."""
    taken = bytearray()
    while wanted > 0:
        data = consumer.recv_bytes(wanted, timeout=ARRIVED_WAIT)
        if not data:
            break
        taken += data
        wanted -= count_frames(data, consumer.max_frame_size)
    return bytes(taken)


def record(options: argparse.Namespace) -> int:
    types = wanted_types(options, command_registry(options))
    # a signal that comes once the relay knows the recorder finishes the recording cleanly
    with _stop_on_signals() as stopped:
        consumer = cast(Consumer, _connect(options, "consumer", types=types))
        deadline = None if options.duration is None else time.monotonic() + options.duration
        with written(options.output) as temporary, open(temporary, "wb") as capture:
            frames, size = _record(options, consumer, capture, stopped, deadline)
        consumer.close()
    restarts = sum(1 for gap in consumer.gaps if gap.reason == GapReason.RelayRestart)
    lost = sum(gap.frames_lost or 0 for gap in consumer.gaps)  # a restart's count is unknown
    print(f"recorded {frames:,} frames ({size:,} bytes) from the {options.domain} relay to"
          f" {options.output}; gaps: {len(consumer.gaps) - restarts} ({lost:,} frames),"
          f" relay restarts: {restarts}", file=sys.stderr)
    return EXIT_OK


def _record(options: argparse.Namespace, consumer: Consumer, capture: IO[bytes],
            stopped: list[int], deadline: float | None) -> tuple[int, int]:
    """Write what the consumer receives until the signal, the deadline or --frames; returns
    the frames and bytes written."""
    frames = size = 0
    while True:
        left_frames = 65536 if options.frames is None else min(65536, options.frames - frames)
        left = None if deadline is None else deadline - time.monotonic()
        if left_frames <= 0 or (left is not None and left <= 0):
            break
        last = bool(stopped)  # what had arrived by the signal is kept: the relay sent it to us
        if last:
            data = _arrived(consumer, left_frames)
        else:
            data = consumer.recv_bytes(left_frames, timeout=min(RECORD_POLL, left or RECORD_POLL))
        capture.write(data)
        frames += count_frames(data, consumer.max_frame_size)
        size += len(data)
        if last:
            break
    return frames, size


class _Pacer:
    """When each frame is due: by its timestamp over --speed, by --rate, or at once."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.speed = options.speed
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


def _of_domain(message: Any, domain: str) -> bool:
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


def replay(options: argparse.Namespace) -> int:
    producer = cast(Producer, _connect(options, "producer"))
    pacer = _Pacer(options)
    pending = bytearray()
    pending_frames = 0
    skipped = 0
    registry = command_registry(options)
    with _stop_on_signals() as stopped, read_capture(options, registry) as capture:
        for item in capture.items():
            if stopped:
                break
            if isinstance(item, BadStretch):
                continue
            if not _of_domain(item, options.domain):
                skipped += 1
                continue
            wait = pacer.due(item.header.timestamp) - time.monotonic()
            if (wait > 0 or pending_frames >= REPLAY_BATCH_FRAMES) and pending:
                producer.send_batch(pending)
                pending.clear()
                pending_frames = 0
            if wait > 0:
                time.sleep(wait)
            pending += item.to_bytes()
            pending_frames += 1
            pacer.sent += 1
        if pending:
            producer.send_batch(pending)
        code = capture.exit_code()
    producer.finish()
    refused = [answer for answer in producer.errors
               if answer.header.message_type == MessageType.Error]
    seconds = time.monotonic() - pacer.started
    print(f"replayed {pacer.sent:,} frames to the {options.domain} relay in {seconds:.2f} s;"
          f" skipped {skipped:,} of other domains or relay control; refused by the relay:"
          f" {len(refused):,}", file=sys.stderr)
    for answer in refused[:10]:
        print(f"alphapulse: refused: {answer.text}", file=sys.stderr)
    return EXIT_BAD_INPUT if refused or code else EXIT_OK


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _relay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", required=True, choices=tuple(DOMAINS), help="the relay")
    parser.add_argument("--runtime-dir", metavar="DIR", help="where the relays' sockets are")
    parser.add_argument("--config", metavar="FILE", help="the relays' YAML configuration")


def add_commands(commands: Any) -> None:
    parser = command(commands, "record", "write what a relay delivers to a capture", RECORD,
                     RECORD_EXAMPLES)
    _relay_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="CAPTURE",
                        help="the capture file to write")
    parser.add_argument("--types", action="append", metavar="TYPES",
                        help="only these message types, by name or number (default: all)")
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--duration", type=_positive_float, metavar="SECONDS",
                       help="stop after this many seconds")
    until.add_argument("--frames", type=positive_int, metavar="N",
                       help="stop after this many frames")
    parser.set_defaults(run=record)

    parser = command(commands, "replay", "feed a capture to a relay", REPLAY, REPLAY_EXAMPLES)
    add_capture_options(parser)
    _relay_options(parser)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=_positive_float, default=1.0, metavar="FACTOR",
                      help="the recorded timing, this many times faster (default 1.0)")
    pace.add_argument("--rate", type=_positive_float, metavar="FRAMES_PER_S",
                      help="a fixed rate instead of the recorded timing")
    pace.add_argument("--max", action="store_true", help="as fast as the relay takes them")
    parser.set_defaults(run=replay)
