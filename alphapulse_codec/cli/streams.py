"""stdin and stdout as a command uses them, named when they fail it.

A stream the shell closed (`<&-`, `>&-`) is None to Python, and a command would fail on its
first use with an AttributeError: a stand-in takes its place, harmless to ask whether it is a
terminal or to flush, and a one-line error naming the stream as soon as a command reads or
writes it. A write to stdout that fails (a full disk, /dev/full) says it was stdout."""
from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from .common import EXIT_UNREADABLE, CommandError


class ClosedStream:
    """Where stdin or stdout would be, had the shell not closed it."""

    def __init__(self, name: str, hint: str) -> None:
        self.name = name
        self.hint = hint

    def _closed(self, *args: Any) -> NoReturn:
        raise CommandError(f"{self.name} is closed{self.hint}", EXIT_UNREADABLE)

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def fileno(self) -> int:
        # io.UnsupportedOperation is what a stream without a descriptor raises: callers that
        # probe a stream's size or terminal already expect it
        raise io.UnsupportedOperation(f"{self.name} is closed")

    @property
    def buffer(self) -> NoReturn:
        self._closed()

    read = readline = read1 = readinto = write = writelines = __iter__ = _closed


class NamedStdout:
    """stdout (or its binary buffer), whose failed writes raise CommandError naming it; what it
    is not asked to write goes to the stream itself."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @property
    def buffer(self) -> NamedStdout:
        return NamedStdout(self._stream.buffer)

    @contextmanager
    def _named(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise  # the reader went away (| head): the command stops quietly
        except OSError as error:
            # the bytes still buffered would fail again when the interpreter flushes them at
            # exit, with a second message
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
            raise CommandError(f"cannot write stdout: {error.strerror or error}",
                               EXIT_UNREADABLE) from None

    def write(self, data: Any) -> int:
        with self._named():
            written: int = self._stream.write(data)
        return written

    def writelines(self, lines: Any) -> None:
        with self._named():
            self._stream.writelines(lines)

    def flush(self) -> None:
        with self._named():
            self._stream.flush()


@contextmanager
def standard_streams() -> Iterator[None]:
    """stdin and stdout as the command may use them: closed ones standing in as ClosedStream,
    stdout's failures named."""
    saved = sys.stdin, sys.stdout
    if sys.stdin is None:
        sys.stdin = ClosedStream("stdin", ": name a file instead of -")
    if sys.stdout is None:
        sys.stdout = ClosedStream("stdout", "")
    else:
        sys.stdout = NamedStdout(sys.stdout)
    try:
        yield
    finally:
        sys.stdin, sys.stdout = saved
