"""What every command shares: exit codes, one-line errors, outputs that appear whole or not at
all, the parser of a command, the options of commands that read captures, and the registry a
command reads with."""
from __future__ import annotations

import argparse
import difflib
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..capture.batch import DEFAULT_CHUNK_BYTES as DEFAULT_BATCH_CHUNK_BYTES
from ..capture.batch import MIN_CHUNK_BYTES
from ..capture.export import FORMATS as EXPORT_FORMATS
from ..capture.stream import DEFAULT_CHUNK_BYTES
from ..schemas.registry import Registry
from ..schemas.registry import default as default_registry
from ..wire.enums import MessageType
from ..wire.errors import SchemaError
from ..wire.optional import require

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNREADABLE = 0, 1, 2
EXIT_BAD_ARGUMENTS = 2  # as argparse exits on an argument it refuses


class CommandError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary directory beside `path`, whose files are moved into `path`'s directory when
    the block succeeds (an exporter may write several files named after `path`); on failure
    it is removed, and files already at those names stay untouched."""
    target = Path(path)
    check_writable(target)
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}", EXIT_UNREADABLE) from None
    try:
        yield temporary
        mode = 0o666 & ~_umask()  # as open() would have made them, not mkdtemp's 0o700
        for written in temporary.iterdir():
            written.chmod(mode)
            os.replace(written, target.parent / written.name)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse an output that is a directory, or in a directory that does not exist: said
    before any work is done, in the user's words rather than the temporary file's."""
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"cannot write {path}: it is a directory", EXIT_UNREADABLE)
    if not target.parent.is_dir():
        raise CommandError(f"cannot write {path}: no directory {target.parent}", EXIT_UNREADABLE)


def check_export_target(path: str, raw: bool = False) -> None:
    """Refuse a --to that could not be written, before the capture is read: a suffix that is
    no export format, a format whose package is not installed, a directory."""
    suffix = Path(path).suffix
    if suffix.lstrip(".") not in EXPORT_FORMATS:
        what = f"{suffix!r} is no export format" if suffix else "no suffix tells the format"
        raise CommandError(f"--to {path}: {what}; end the name with one of"
                           f" {', '.join('.' + f for f in EXPORT_FORMATS)}", EXIT_BAD_ARGUMENTS)
    if suffix in (".parquet", ".arrow"):
        require("pyarrow", f"writing {suffix} files")
    if suffix == ".csv" and not raw:  # the readable columns are built with pyarrow
        require("pyarrow", "writing readable .csv files (--raw needs numpy alone)")
    check_writable(path)


@contextmanager
def written(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name, renamed to `path` when the block succeeds."""
    with replacing(path) as directory:
        yield directory / Path(path).name


@contextmanager
def output(path: str | None, binary: bool = False) -> Iterator[IO[Any]]:
    """The named file, written whole or not at all; or stdout for None and '-'."""
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    with written(path) as temporary, open(temporary, "wb" if binary else "w") as stream:
        yield stream


def command(commands: Any, name: str, summary: str, description: str,
            examples: str) -> argparse.ArgumentParser:
    """The parser of one command: a summary for the command list, a description and examples
    for its --help."""
    return commands.add_parser(name, help=summary, description=description,
                               epilog="examples:\n" + examples,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def _whole_number_at_least(text: str, minimum: int, expected: str,
                           maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number_at_least(text, 1, "a positive whole number")


def whole_number_to(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to `maximum`."""
    def whole_number(text: str) -> int:
        return _whole_number_at_least(text, 1, "a positive whole number", maximum)
    return whole_number


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole_number_at_least(text, 0, "a whole number")


def number_from(low: float, high: float, unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number from `low` to `high` (argparse names the argument in
    front of what is refused). nan, inf and what overflows to inf (1e400) are refused: a
    duration or a rate of them would end at once or never."""
    expected = f"a number of {unit} from {_number_text(low)} to {_number_text(high)}"

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    return number


def _number_text(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


# the longest a command that runs for a given time may be asked to run: past it, the
# request is a slip of the keyboard
MAX_SECONDS = 365 * 24 * 3600
duration_seconds = number_from(0.001, MAX_SECONDS, "seconds")


# a chunk is allocated whole, up front: past this the request is a slip of the keyboard, met
# by the kernel's out-of-memory killer rather than by a MemoryError
MAX_CHUNK_BYTES = 1 << 30


def chunk_size(text: str) -> int:
    value = positive_int(text)
    if not MIN_CHUNK_BYTES <= value <= MAX_CHUNK_BYTES:
        raise argparse.ArgumentTypeError(f"must be from {MIN_CHUNK_BYTES} to {MAX_CHUNK_BYTES}"
                                         f" (1 GiB), got {value}")
    return value


def command_registry(options: argparse.Namespace) -> Registry:
    """A registry of the command's own, with the schemas of --schemas: what a capture
    announces is learned there, never into the process-wide default."""
    registry = default_registry.overlay()
    for path in getattr(options, "schemas", None) or []:
        try:
            registry.load(path)
        except SchemaError as error:
            raise CommandError(f"--schemas: {error}", EXIT_UNREADABLE) from None
    return registry


def wanted_types(options: argparse.Namespace, registry: Registry) -> list[int] | None:
    """The type numbers that --types names (None: every type). Names are read in any case;
    a number is a type still to be announced."""
    given = [name.strip() for value in getattr(options, "types", None) or []
             for name in value.split(",") if name.strip()]
    if not given:
        return None
    known = {m.name: int(m) for m in MessageType}
    known.update((schema.name, schema.message_type) for schema in registry)
    by_case = {name.lower(): number for name, number in known.items()}
    numbers = []
    for name in given:
        if name.isdigit() and int(name) <= 255:
            numbers.append(int(name))
        elif name.lower() in by_case:
            numbers.append(by_case[name.lower()])
        else:
            raise CommandError(_unknown_type(name, sorted(known)), EXIT_BAD_ARGUMENTS)
    return numbers


def _unknown_type(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3)
    hint = " (did you mean " + " or ".join(k for k in known if k.lower() in close) + "?)" \
        if close else ""
    return (f"--types: unknown message type {name!r}{hint}; known types: {', '.join(known)},"
            " or a type number 0-255")


def add_schemas_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", action="append", metavar="FILE",
                        help="register the run-time schemas of a JSON or YAML file (repeatable)")


def add_capture_options(parser: argparse.ArgumentParser, capture_required: bool = True) -> None:
    """The capture to read, which frames to keep and how to check them."""
    parser.add_argument("capture", metavar="CAPTURE", nargs=None if capture_required else "?",
                        help="file of frames back to back, or - for stdin")
    add_schemas_option(parser)
    parser.add_argument("--types", action="append", metavar="TYPES",
                        help="only these message types, by name in any case or by number;"
                             " comma-separated or repeated (default: all)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the CRC-32 check of each frame")
    parser.add_argument("--max-frame-size", type=positive_int, default=None, metavar="BYTES",
                        help="treat larger frames as bad (default 1 MiB)")
    parser.add_argument("--chunk-bytes", type=chunk_size, default=None, metavar="BYTES",
                        help="read the capture this many bytes at a time, from"
                             f" {MIN_CHUNK_BYTES} to 1 GiB (default {DEFAULT_CHUNK_BYTES >> 20} MiB;"
                             f" {DEFAULT_BATCH_CHUNK_BYTES >> 20} MiB for decode --to and stats)")
