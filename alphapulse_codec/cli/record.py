"""``alphapulse record``: what a relay's consumer receives, written as a capture;
``alphapulse replay``: a capture fed to a relay, with its recorded timing, at a fixed rate or
as fast as it goes."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from ..capture.batch import BadStretch
from ..relay import DOMAINS, Backoff, Consumer, Producer, connect
from ..relay._route import count_frames
from ..relay.frames import CONTROL_TYPES
from ..wire._codec import Message
from ..wire.enums import GapReason, MessageType
from ..schemas.schema import Schema
from ..wire.errors import ConfigError, RelayError, SchemaError
from .common import (EXIT_BAD_ARGUMENTS, EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError,
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
reported at the end; exit 1 if there was any.

With --from-jetstream the frames come from the domain's NATS JetStream stream instead, in
stream order, from --start-sequence or --since (default: the stream's first message) to the
end the stream had when the replay started (--follow: on with what is published later, until
SIGINT or SIGTERM), or to --until; to the relay as above, or with -o to a capture, byte for
byte. An unknown stream, a server that does not answer, a time that does not parse or a start
past the end is exit 2."""

REPLAY_EXAMPLES = """\
  alphapulse replay md.bin --domain market_data
  alphapulse replay md.bin --domain market_data --speed 10
  alphapulse replay orders.bin --domain execution --rate 5000
  alphapulse replay session.bin --domain market_data --max
  alphapulse replay --from-jetstream --domain execution --start-sequence 1000 -o orders.bin
  alphapulse replay --from-jetstream --domain market_data --since 2026-11-27T09:30:00Z --max
"""

# the options that only mean something to a replay from JetStream
JETSTREAM_ONLY = (("--servers", "servers"), ("--subject-prefix", "subject_prefix"),
                  ("--start-sequence", "start_sequence"), ("--since", "since"),
                  ("--until", "until"), ("--follow", "follow"), ("-o", "output"))

RECORD_POLL = 0.2           # seconds between looks at the stop signal and the clock
REPLAY_BATCH_FRAMES = 4096  # frames sent at once when they are due together
RECONNECT = Backoff(give_up_after=None)


def _connect(options: argparse.Namespace, role: str, **extra: Any) -> Producer | Consumer:
    try:
        return connect(options.domain, role,  # type: ignore[arg-type]
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


def record(options: argparse.Namespace) -> int:
    types = wanted_types(options, command_registry(options))
    consumer = cast(Consumer, _connect(options, "consumer", types=types))
    frames = size = 0
    deadline = None if options.duration is None else time.monotonic() + options.duration
    with _stop_on_signals() as stopped, written(options.output) as temporary, \
            open(temporary, "wb") as capture:
        while not stopped:
            if options.frames is not None and frames >= options.frames:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            wanted = 65536 if options.frames is None else min(65536, options.frames - frames)
            data = consumer.recv_bytes(wanted, timeout=min(RECORD_POLL, left or RECORD_POLL))
            if data:
                capture.write(data)
                frames += count_frames(data, consumer.max_frame_size)
                size += len(data)
        consumer.close()
    restarts = sum(1 for gap in consumer.gaps if gap.reason == GapReason.RelayRestart)
    lost = sum(gap.frames_lost or 0 for gap in consumer.gaps)  # a restart's count is unknown
    print(f"recorded {frames:,} frames ({size:,} bytes) from the {options.domain} relay to"
          f" {options.output}; gaps: {len(consumer.gaps) - restarts} ({lost:,} frames),"
          f" relay restarts: {restarts}", file=sys.stderr)
    return EXIT_OK


class _Pacer:
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


def send_paced(producer: Producer, messages: Iterable[Message | None],
               options: argparse.Namespace, pacer: _Pacer, stopped: list[int]) -> int:
    """Sends the messages of the domain as `pacer` times them, batched when due together (a
    None: the source has nothing more for now, so what is batched leaves); the count of those
    skipped (other domains, relay control)."""
    pending = bytearray()
    pending_frames = 0
    skipped = 0
    for item in messages:
        if stopped:
            break
        if item is None:
            if pending:
                producer.send_batch(pending)
                pending.clear()
                pending_frames = 0
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
    return skipped


def report_refusals(producer: Producer) -> int:
    """Prints what the relay refused (the first ten); their count."""
    producer.finish()
    refused = [answer for answer in producer.errors
               if answer.header.message_type == MessageType.Error]
    for answer in refused[:10]:
        print(f"alphapulse: refused: {answer.text}", file=sys.stderr)
    return len(refused)


def replay(options: argparse.Namespace) -> int:
    if options.from_jetstream:
        from .jetstream import replay_from_jetstream  # nats-py only when it is asked for
        return replay_from_jetstream(options)
    if options.capture is None:
        raise CommandError("replay: give a CAPTURE to read, or --from-jetstream",
                           EXIT_BAD_ARGUMENTS)
    given = [flag for flag, dest in JETSTREAM_ONLY if getattr(options, dest) not in (None, False)]
    if given:
        raise CommandError(f"replay: {', '.join(given)}: only with --from-jetstream",
                           EXIT_BAD_ARGUMENTS)
    producer = cast(Producer, _connect(options, "producer"))
    pacer = _Pacer(options)
    registry = command_registry(options)
    with _stop_on_signals() as stopped, read_capture(options, registry) as capture:
        messages = (item for item in capture.items() if not isinstance(item, BadStretch))
        skipped = send_paced(producer, messages, options, pacer, stopped)
        code = capture.exit_code()
    refused = report_refusals(producer)
    seconds = time.monotonic() - pacer.started
    print(f"replayed {pacer.sent:,} frames to the {options.domain} relay in {seconds:.2f} s;"
          f" skipped {skipped:,} of other domains or relay control; refused by the relay:"
          f" {refused:,}", file=sys.stderr)
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

    parser = command(commands, "replay", "feed a capture or a JetStream stream to a relay",
                     REPLAY, REPLAY_EXAMPLES)
    add_capture_options(parser, capture_required=False)
    _relay_options(parser)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=_positive_float, metavar="FACTOR",
                      help="the recorded timing, this many times faster (default 1.0)")
    pace.add_argument("--rate", type=_positive_float, metavar="FRAMES_PER_S",
                      help="a fixed rate instead of the recorded timing")
    pace.add_argument("--max", action="store_true", help="as fast as the relay takes them")
    stream = parser.add_argument_group("replay from a NATS JetStream stream")
    stream.add_argument("--from-jetstream", action="store_true",
                        help="read the frames the domain's JetStream stream holds, not a"
                             " CAPTURE")
    stream.add_argument("--servers", metavar="URLS",
                        help="NATS servers, comma-separated (default nats://127.0.0.1:4222)")
    stream.add_argument("--subject-prefix", metavar="PREFIX",
                        help="the subjects' prefix (default alphapulse: the stream of"
                             " alphapulse.DOMAIN.> is ALPHAPULSE_DOMAIN)")
    start = stream.add_mutually_exclusive_group()
    start.add_argument("--start-sequence", type=positive_int, metavar="N",
                       help="from this stream sequence (default: the stream's first)")
    start.add_argument("--since", metavar="TIME",
                       help="from the first message stored at or after this ISO 8601 time"
                            " (UTC without an offset)")
    stream.add_argument("--until", metavar="TIME",
                        help="up to the last message stored at or before this ISO 8601 time")
    stream.add_argument("--follow", action="store_true",
                        help="go on with what is published later (default: stop at the"
                             " stream's end as it was when the replay started)")
    stream.add_argument("-o", "--output", metavar="CAPTURE",
                        help="write the frames to this capture instead of the domain's relay")
    parser.set_defaults(run=replay)
