"""The capture a command reads: a path or - for stdin, read a chunk at a time, with a progress
bar on stderr when it is a terminal, and each bad stretch reported on stderr as it is found."""
from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)
from rich.text import Text

from ..capture.batch import BadStretch, BatchResult
from ..capture.batch import iter_batches
from ..capture.stream import iter_messages
from ..schemas.registry import Registry
from ..wire._codec import Message
from .common import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError, wanted_types
from .text import count


def stretch_text(stretch: BadStretch) -> str:
    return f"bad stretch: {count(stretch.length, 'byte')} at byte {stretch.offset}, {stretch.kind}"


class _Counted:
    """A binary stream that counts the bytes read, and flushes stdout before each read: what a
    command printed appears before it waits for more input (a pipe that fills slowly)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.done = 0

    def read1(self, size: int) -> bytes:
        sys.stdout.flush()
        data = self._stream.read1(size)  # type: ignore[attr-defined]
        self.done += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        sys.stdout.flush()
        read = self._stream.readinto(buffer) or 0  # type: ignore[attr-defined]
        self.done += read
        return read


class _Meter:
    """The progress bar, on stderr when it is a terminal; notes are printed above it."""

    INTERVAL = 0.1  # seconds between redraws: a redraw costs more than decoding a frame

    def __init__(self, total: int | None) -> None:
        self.console = Console(file=sys.stderr, highlight=False)
        columns = [TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TextColumn("{task.fields[frames]:,} frames"), TimeRemainingColumn()]
        # when stdout is that terminal too, what the command prints goes above the bar
        self.progress = Progress(*columns, console=self.console, transient=True,
                                 disable=not self.console.is_terminal,
                                 redirect_stdout=sys.stdout.isatty(), redirect_stderr=False)
        self.task = self.progress.add_task("reading", total=total, frames=0)
        self.shown = not self.progress.disable
        self.last = 0.0

    def update(self, done: int, frames: int) -> None:
        if self.shown and time.monotonic() - self.last > self.INTERVAL:
            self.last = time.monotonic()
            self.progress.update(self.task, completed=done, frames=frames)

    def note(self, line: str) -> None:
        if self.shown:
            self.console.print(Text("alphapulse: " + line))
        else:
            print("alphapulse: " + line, file=sys.stderr, flush=True)


class Capture:
    """A capture being read: its items or chunks, progress, and what went wrong."""

    def __init__(self, options: argparse.Namespace, registry: Registry, stream: IO[bytes],
                 meter: _Meter) -> None:
        self.options = options
        self.registry = registry
        self.types = wanted_types(options, registry)
        self.stream = _Counted(stream)
        self.meter = meter
        self.stretches = 0
        self.refused: list[str] = []

    def items(self) -> Iterator[Message | BadStretch]:
        """The messages and bad stretches, in order; `position` is where the last one ends."""
        extra = {"chunk_bytes": self.options.chunk_bytes} if self.options.chunk_bytes else {}
        self.messages = iter_messages(self.stream, **self._decoding(), **extra)
        frames = 0
        for item in self.messages:
            if isinstance(item, BadStretch):
                self.stretch(item)
            else:
                frames += 1
                self.meter.update(self.stream.done, frames)
            yield item
        self.refuse(self.messages.refused_schemas)

    def batches(self) -> Iterator[BatchResult]:
        extra = {"chunk_bytes": self.options.chunk_bytes} if self.options.chunk_bytes else {}
        frames = 0
        for result in iter_batches(self.stream, **self._decoding(), **extra):
            frames += len(result)
            self.meter.update(self.stream.done, frames)
            for stretch in result.errors:
                self.stretch(stretch)
            self.refuse(result.refused_schemas)
            yield result

    @property
    def position(self) -> int:
        return self.messages.position

    def stretch(self, stretch: BadStretch) -> None:
        self.stretches += 1
        self.meter.note(stretch_text(stretch))

    def refuse(self, reasons: list[str]) -> None:
        for reason in reasons:
            self.refused.append(reason)
            self.meter.note("schema announcement refused: " + " ".join(reason.split()))

    def exit_code(self) -> int:
        return EXIT_BAD_INPUT if self.stretches or self.refused else EXIT_OK

    def _decoding(self) -> dict[str, Any]:
        return {"verify": not self.options.no_verify, "types": self.types,
                "max_frame_size": self.options.max_frame_size, "registry": self.registry,
                "learn_into": self.registry}  # the command's own registry: it may learn


@contextmanager
def read_capture(options: argparse.Namespace, registry: Registry) -> Iterator[Capture]:
    """The capture of options.capture ('-': stdin), with its progress bar."""
    with _opened(options.capture) as stream:
        meter = _Meter(_size(stream))
        with meter.progress:
            yield Capture(options, registry, stream, meter)


@contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}", EXIT_UNREADABLE) from None
    with stream:
        yield stream


def _size(stream: IO[bytes]) -> int | None:
    """The size of a regular file (stdin may be one), None for a pipe."""
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None
