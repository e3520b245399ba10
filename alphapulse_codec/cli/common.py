"""What every command shares: exit codes, one-line errors, inputs and outputs, the options of
commands that read captures, and the registry a command reads with."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..schemas.registry import Registry
from ..wire.errors import SchemaError

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNREADABLE = 0, 1, 2


class CommandError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def read_input(path: str) -> bytes:
    """The bytes of a file, or of stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}", EXIT_UNREADABLE) from None


@contextmanager
def output(path: str | None, binary: bool = False) -> Iterator[IO[Any]]:
    """The named file, or stdout for None and '-'."""
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        stream = open(path, "wb" if binary else "w")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}", EXIT_UNREADABLE) from None
    with stream:
        yield stream


def command_registry(options: argparse.Namespace) -> Registry:
    """A registry of the command's own, with the schemas of --schemas: what a capture
    announces is learned there, never into the process-wide default."""
    registry = Registry()
    for path in getattr(options, "schemas", None) or []:
        try:
            registry.load(path)
        except SchemaError as error:
            raise CommandError(f"--schemas: {error}", EXIT_UNREADABLE) from None
    return registry


def add_schemas_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", action="append", metavar="FILE",
                        help="register the run-time schemas of a JSON or YAML file (repeatable)")


def add_capture_options(parser: argparse.ArgumentParser) -> None:
    """The capture to read and how to check its frames."""
    add_schemas_option(parser)
    parser.add_argument("capture", metavar="CAPTURE", help="file of frames back to back, or -")
    parser.add_argument("--no-verify", action="store_true", help="skip the CRC check")
    parser.add_argument("--max-frame-size", type=int, default=None, metavar="BYTES",
                        help="refuse larger frames (default 1 MiB)")
