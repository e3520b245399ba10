"""``alphapulse record``: what a domain's consumer receives (from its relay, or the transport
--config gives it), written as a capture; ``alphapulse replay``: a capture fed to a domain,
with its recorded timing, at a fixed rate or as fast as it goes."""
from __future__ import annotations

import argparse
import sys
import time
from typing import IO, Any

from ..capture.batch import BadStretch
from ..relay import DOMAINS
from ..relay._route import count_frames
from ..relay.frames import check_domain_types
from ..wire._codec import DEFAULT_MAX_FRAME_SIZE
from ..wire.enums import GapReason
from ..wire.errors import FieldValueError
from .common import (EXIT_BAD_ARGUMENTS, EXIT_BAD_INPUT, EXIT_OK, MAX_SECONDS, CommandError,
                     add_capture_options, check_writable, command, command_registry,
                     duration_seconds, number_from, positive_int, wanted_types, written)
from .reading import read_capture
from .relaying import Pacer, connect_domain, report_refusals, send_paced, stop_on_signals

RECORD = """\
Subscribe to one relay (or, with --config, to whatever transport the file gives the domain)
and write every frame received, byte for byte, to a capture (frames back to back: decode,
stats and decode_batch read it), gap notices included. Says "recording" on stderr once
subscribed. Runs until --duration or --frames is reached, or SIGINT / SIGTERM; the capture is
written to a temporary file and renamed when done, so it appears whole. A relay that restarts
is reconnected."""

RECORD_EXAMPLES = """\
  alphapulse record --domain market_data -o md.bin --duration 10
  alphapulse record --domain execution -o orders.bin --types Fill,ExecutionReport
  alphapulse record --domain signals -o signals.bin --frames 100000
  alphapulse record --domain market_data --config stage2.yml -o md.bin
"""

REPLAY = """\
Send the frames of a capture to one relay (or, with --config, to the domain's transport of the
file) as a producer: with the timing of their headers'
timestamps (--speed, default 1.0 = as recorded), at a fixed --rate, or --max as fast as the
relay takes them. Frames of other domains and relay control frames are skipped and counted.
Bad stretches of the capture are reported on stderr and skipped; frames the relay refuses are
reported at the end; exit 1 if there was any. SIGINT or SIGTERM ends the replay there, during
a wait for a frame's time too, and reports as at the end.

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

# past these a replay's pace is no pace: --max says "as fast as the relay takes them"
MAX_SPEED = 1_000_000
MAX_RATE = 1_000_000_000
RECORD_POLL = 0.2           # seconds between looks at the stop signal and the clock
ARRIVED_WAIT = 0.01         # after the stop signal: a look at the socket for what had arrived


def _arrived(consumer: Any, wanted: int) -> bytes:
    """The whole frames already received or waiting in the socket, at most ``wanted``."""
    taken = bytearray()
    while wanted > 0:
        data = consumer.recv_bytes(wanted, timeout=ARRIVED_WAIT)
        if not data:
            break
        taken += data
        wanted -= count_frames(data, _frame_limit(consumer))
    return bytes(taken)


def record(options: argparse.Namespace) -> int:
    types = wanted_types(options, command_registry(options))
    try:
        check_domain_types(options.domain, types)
    except FieldValueError as error:
        raise CommandError(f"--{error}", EXIT_BAD_ARGUMENTS) from None
    check_writable(options.output)  # before the relay is asked for anything
    # a signal that comes once the relay knows the recorder finishes the recording cleanly
    with stop_on_signals() as stopped:
        consumer = connect_domain(options, "consumer", types=types)
        print(f"recording {options.domain} to {options.output}", file=sys.stderr, flush=True)
        deadline = None if options.duration is None else time.monotonic() + options.duration
        with written(options.output) as temporary, open(temporary, "wb") as capture:
            frames, size = _record(options, consumer, capture, stopped, deadline)
        consumer.close()
    gaps = consumer.gaps
    restarts = sum(1 for gap in gaps if gap.reason == GapReason.RelayRestart)
    lost = sum(gap.frames_lost or 0 for gap in gaps)  # a restart's count is unknown
    print(f"recorded {frames:,} frames ({size:,} bytes) from {options.domain} to"
          f" {options.output}; gaps: {len(gaps) - restarts} ({lost:,} frames),"
          f" relay restarts: {restarts}", file=sys.stderr)
    return EXIT_OK


def _record(options: argparse.Namespace, consumer: Any, capture: IO[bytes],
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
        frames += count_frames(data, _frame_limit(consumer))
        size += len(data)
        if last:
            break
    return frames, size


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
    producer = connect_domain(options, "producer")
    pacer = Pacer(options)
    registry = command_registry(options)
    with stop_on_signals() as stopped, read_capture(options, registry) as capture:
        messages = (item for item in capture.items() if not isinstance(item, BadStretch))
        skipped, cut_short = send_paced(producer, messages, options, pacer, stopped)
        code = capture.exit_code()
    refused = report_refusals(producer, cut_short)
    seconds = time.monotonic() - pacer.started
    print(f"replayed {pacer.sent:,} frames to {options.domain} in {seconds:.2f} s;"
          f" skipped {skipped:,} of other domains or relay control; refused by the relay:"
          f" {refused:,}", file=sys.stderr)
    return EXIT_BAD_INPUT if refused or code else EXIT_OK


def _frame_limit(consumer: Any) -> int:
    """The largest frame the consumer's transport lets through: a relay's is its policy's."""
    return int(getattr(consumer, "max_frame_size", DEFAULT_MAX_FRAME_SIZE))


def _relay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", required=True, choices=tuple(DOMAINS), help="the domain")
    parser.add_argument("--runtime-dir", metavar="DIR", help="where the relays' sockets are")
    parser.add_argument("--config", metavar="FILE",
                        help="the YAML configuration of the relays, or of every domain's"
                             " transport (alphapulse config check FILE)")


def add_commands(commands: Any) -> None:
    parser = command(commands, "record", "write what a relay delivers to a capture", RECORD,
                     RECORD_EXAMPLES)
    _relay_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="CAPTURE",
                        help="the capture file to write")
    parser.add_argument("--types", action="append", metavar="TYPES",
                        help="only these message types, by name or number (default: all)")
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--duration", type=duration_seconds, metavar="SECONDS",
                       help="stop after this many seconds, from 0.001 to a year"
                            f" ({MAX_SECONDS:,})")
    until.add_argument("--frames", type=positive_int, metavar="N",
                       help="stop after this many frames")
    parser.set_defaults(run=record)

    parser = command(commands, "replay", "feed a capture or a JetStream stream to a relay",
                     REPLAY, REPLAY_EXAMPLES)
    add_capture_options(parser, capture_required=False)
    _relay_options(parser)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=number_from(0.001, MAX_SPEED, "times the recorded pace"),
                      metavar="FACTOR", help="the recorded timing, this many times faster, from"
                      f" 0.001 to {MAX_SPEED:,} (default 1.0)")
    pace.add_argument("--rate", type=number_from(0.001, MAX_RATE, "frames per second"),
                      metavar="FRAMES_PER_S", help="a fixed rate instead of the recorded timing,"
                      f" from 0.001 to {MAX_RATE:,} frames per second")
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
