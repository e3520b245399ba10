"""``alphapulse replay --from-jetstream``: the frames a domain's NATS JetStream stream holds,
from a stream sequence or a time, fed to the domain's relay or written to a capture."""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Iterator

from ..schemas.registry import Registry
from ..transport import _frames
from ..transport.errors import BusError
from ..transport.nats import DEFAULT_PREFIX
from ..transport.nats_replay import StoredMessage, StreamReader
from ..wire._codec import Message, iter_frames
from ..wire.errors import FieldValueError, ParseError
from .common import (EXIT_BAD_ARGUMENTS, EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError,
                     command_registry, wanted_types, written)
from .relaying import Pacer, connect_domain, report_refusals, send_paced, stop_on_signals

READ_POLL = 0.2  # seconds between looks at the stop signal while the stream is quiet
# what --from-jetstream leaves unused: a capture's reading options
CAPTURE_ONLY = (("CAPTURE", "capture"), ("--chunk-bytes", "chunk_bytes"))


def parse_time(flag: str, text: str | None) -> datetime.datetime | None:
    """An ISO 8601 time, read as UTC when it gives no offset."""
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"{flag}: {text!r} is not an ISO 8601 time (such as"
                           " 2026-11-27T09:30:00Z or 2026-11-27 09:30:00+01:00)",
                           EXIT_BAD_ARGUMENTS) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _check_options(options: argparse.Namespace) -> None:
    unused = [flag for flag, dest in CAPTURE_ONLY if getattr(options, dest) is not None]
    if unused:
        raise CommandError(f"replay --from-jetstream reads the stream, not {', '.join(unused)}",
                           EXIT_BAD_ARGUMENTS)
    if options.output is not None and (options.speed or options.rate or options.max):
        raise CommandError("replay --from-jetstream -o: the capture is written at once;"
                           " --speed, --rate and --max pace a relay", EXIT_BAD_ARGUMENTS)
    if options.output is not None and options.follow:
        raise CommandError("replay --from-jetstream -o: a capture has an end; --follow is for"
                           " a relay", EXIT_BAD_ARGUMENTS)


def _open(options: argparse.Namespace) -> StreamReader:
    since = parse_time("--since", options.since)
    until = parse_time("--until", options.until)
    if since is not None and until is not None and until < since:
        raise CommandError(f"--until {options.until} is before --since {options.since}",
                           EXIT_BAD_ARGUMENTS)
    servers = None if options.servers is None else \
        [url.strip() for url in options.servers.split(",") if url.strip()]
    try:
        return StreamReader(options.domain, servers=servers,
                            subject_prefix=options.subject_prefix or DEFAULT_PREFIX,
                            start_sequence=options.start_sequence, start_time=since,
                            until=until, follow=options.follow, name="alphapulse replay")
    except FieldValueError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    except BusError as error:
        raise CommandError(str(error), EXIT_UNREADABLE) from None


def _stored(reader: StreamReader, type_names: set[str] | None,
            stopped: list[int]) -> Iterator[StoredMessage | None]:
    """The stream's messages of the wanted types, until its end or a signal; None each time
    the stream has nothing more for now (following it)."""
    while not reader.done and not stopped:
        try:
            found = reader.read(READ_POLL)
        except BusError as error:
            raise CommandError(str(error), EXIT_UNREADABLE) from None
        for stored in found:
            if type_names is None or stored.type_name in type_names:
                yield stored
        if not found:
            yield None


class _Tally:
    """What the replay read: messages, frames, bytes, and the messages whose bytes were no
    valid frames (reported on stderr, their frames left out)."""

    def __init__(self) -> None:
        self.messages = self.frames = self.size = self.bad = 0
        self.first: int | None = None
        self.last: int | None = None

    def took(self, stored: StoredMessage, frames: int) -> None:
        self.messages += 1
        self.frames += frames
        self.size += len(stored.data)
        self.first = stored.sequence if self.first is None else self.first
        self.last = stored.sequence

    def refused(self, stored: StoredMessage, error: ParseError) -> None:
        self.bad += 1
        print(f"alphapulse: stream sequence {stored.sequence} ({stored.subject}): {error};"
              " left out", file=sys.stderr)

    def span(self) -> str:
        return "nothing" if self.first is None else f"sequences {self.first}-{self.last}"


def _to_capture(options: argparse.Namespace, reader: StreamReader, type_names: set[str] | None,
                tally: _Tally) -> None:
    verify = not options.no_verify
    with stop_on_signals() as stopped, written(options.output) as temporary, \
            open(temporary, "wb") as capture:
        for stored in _stored(reader, type_names, stopped):
            if stored is None:
                continue
            try:
                frames = _frames.checked_index(stored.data, verify).frames
            except ParseError as error:
                tally.refused(stored, error)
                continue
            capture.write(stored.data)
            tally.took(stored, frames)


def _messages(stream: Iterator[StoredMessage | None], options: argparse.Namespace,
              registry: Registry, tally: _Tally) -> Iterator[Message | None]:
    for stored in stream:
        if stored is None:
            yield None
            continue
        try:
            messages = list(iter_frames(stored.data, not options.no_verify, registry=registry,
                                        max_frame_size=options.max_frame_size))
        except ParseError as error:
            tally.refused(stored, error)
            continue
        tally.took(stored, len(messages))
        yield from messages


def _to_relay(options: argparse.Namespace, reader: StreamReader, type_names: set[str] | None,
              registry: Registry, tally: _Tally) -> tuple[int, int, int, float]:
    # a relay, never the domain's transport of --config: that may be this very stream
    producer = connect_domain(options, "producer", relay_only=True)
    pacer = Pacer(options)
    with stop_on_signals() as stopped:
        messages = _messages(_stored(reader, type_names, stopped), options, registry, tally)
        skipped, cut_short = send_paced(producer, messages, options, pacer, stopped)
    return (pacer.sent, skipped, report_refusals(producer, cut_short),
            time.monotonic() - pacer.started)


def replay_from_jetstream(options: argparse.Namespace) -> int:
    _check_options(options)
    registry = command_registry(options)
    types = wanted_types(options, registry)
    type_names = None if types is None else {_frames.type_name(n) for n in types}
    tally = _Tally()
    reader = _open(options)
    try:
        if options.output is not None:
            _to_capture(options, reader, type_names, tally)
            print(f"wrote {tally.frames:,} frames ({tally.size:,} bytes; {tally.span()}) of"
                  f" {reader.stream} to {options.output}", file=sys.stderr)
            return EXIT_BAD_INPUT if tally.bad else EXIT_OK
        sent, skipped, refused, seconds = _to_relay(options, reader, type_names, registry, tally)
    finally:
        reader.close()
    print(f"replayed {sent:,} frames ({tally.span()} of {reader.stream}) to the"
          f" {options.domain} relay in {seconds:.2f} s; skipped {skipped:,} of other domains or"
          f" relay control; refused by the relay: {refused:,}", file=sys.stderr)
    return EXIT_BAD_INPUT if refused or tally.bad else EXIT_OK
