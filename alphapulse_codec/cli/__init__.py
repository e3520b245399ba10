"""The ``alphapulse`` command line.

    alphapulse decode CAPTURE --format jsonl [-o OUT]        one JSON object per frame
    alphapulse decode CAPTURE --to OUT.parquet|.arrow|.csv|.npz|.jsonl [--types T ...]
    alphapulse encode --from-jsonl FRAMES.jsonl -o CAPTURE
    alphapulse inspect CAPTURE [--hex] [--limit N]
    alphapulse stats CAPTURE
    alphapulse generate --frames N -o CAPTURE
    alphapulse demo [-o CAPTURE]

Exit codes: 0 clean, 1 bad frames or bad content found (what could be decoded still is),
2 the input cannot be read or the arguments are wrong. Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..wire._codec import iter_frames
from ..wire.enums import MessageType
from ..wire.errors import ParseError, SchemaError
from ..schemas.registry import default as default_registry

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNREADABLE = 0, 1, 2


class CommandError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _read(path: str) -> bytes:
    """The bytes of a file, or of stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}", EXIT_UNREADABLE) from None


@contextmanager
def _output(path: str | None, binary: bool = False) -> Iterator[IO[Any]]:
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        stream = open(path, "wb" if binary else "w")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}", EXIT_UNREADABLE) from None
    with stream:
        yield stream


def _frames(data: Any, options: argparse.Namespace) -> Iterator[Any]:
    """The messages of a capture; a bad frame ends the iteration with its error. A schema
    announcement is registered before the frames after it are read."""
    frames = iter_frames(data, verify=not options.no_verify, max_frame_size=options.max_frame_size)
    try:
        for message in frames:
            if message.header.message_type == MessageType.SchemaAnnouncement:
                default_registry.learn(message)
            yield message
    except ParseError as error:
        raise CommandError(str(error)) from None
    except SchemaError as error:
        raise CommandError(f"frame at byte {frames.position - message.size}: {error}") from None


def _load_schemas(options: argparse.Namespace) -> None:
    for path in getattr(options, "schemas", None) or []:
        try:
            default_registry.load(path)
        except SchemaError as error:
            raise CommandError(f"--schemas: {error}", EXIT_UNREADABLE) from None


def cmd_decode(options: argparse.Namespace) -> int:
    if options.to:
        from .capture import decode_to

        return decode_to(options)
    from ..wire.jsonmap import to_json

    data = _read(options.capture)
    with _output(options.output) as out:
        for message in _frames(data, options):
            out.write(json.dumps(to_json(message), separators=(",", ":")) + "\n")
    return EXIT_OK


def cmd_encode(options: argparse.Namespace) -> int:
    from ..wire.jsonmap import from_json

    try:
        source = open(options.from_jsonl) if options.from_jsonl != "-" else sys.stdin
    except OSError as error:
        raise CommandError(f"cannot read {options.from_jsonl}: {error.strerror}",
                           EXIT_UNREADABLE) from None
    with source, _output(options.output, binary=True) as out:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                frame = from_json(json.loads(line), default_registry)
                if frame[4] == MessageType.SchemaAnnouncement:
                    default_registry.learn(frame)  # the lines after it may use its schema
                out.write(frame)
            except (json.JSONDecodeError, ParseError, SchemaError) as error:
                raise CommandError(f"line {number}: {error}") from None
    return EXIT_OK


def cmd_inspect(options: argparse.Namespace) -> int:
    from .inspect import print_frames

    print_frames(_frames(_read(options.capture), options), limit=options.limit,
                 hexdump_frames=options.hex)
    return EXIT_OK


def cmd_stats(options: argparse.Namespace) -> int:
    from .capture import stats

    return stats(options)


def cmd_generate(options: argparse.Namespace) -> int:
    from .capture import generate

    return generate(options)


def cmd_demo(options: argparse.Namespace) -> int:
    from .demo import run

    return run(options.output, options.frames)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alphapulse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"alphapulse_codec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_schemas(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--schemas", action="append", metavar="FILE",
                         help="register the run-time schemas of a JSON or YAML file (repeatable)")

    def reading(sub: argparse.ArgumentParser) -> None:
        with_schemas(sub)
        sub.add_argument("capture", metavar="CAPTURE", help="file of frames back to back, or -")
        sub.add_argument("--no-verify", action="store_true", help="skip the CRC check")
        sub.add_argument("--max-frame-size", type=int, default=None, metavar="BYTES",
                         help="refuse larger frames (default 1 MiB)")

    decode = commands.add_parser("decode", help="frames to JSON lines or columnar files")
    reading(decode)
    decode.add_argument("--format", choices=["jsonl"], default="jsonl")
    decode.add_argument("-o", "--output", metavar="OUT", help="JSON lines output (default stdout)")
    decode.add_argument("--to", metavar="OUT", help="batch-decode into OUT.parquet, .arrow,"
                        " .csv, .npz or .jsonl (bad stretches are skipped and reported)")
    decode.add_argument("--types", nargs="+", metavar="TYPE", help="only these message types")
    decode.set_defaults(run=cmd_decode)

    encode = commands.add_parser("encode", help="JSON lines to frames")
    encode.add_argument("--from-jsonl", required=True, metavar="FILE")
    encode.add_argument("-o", "--output", required=True, metavar="OUT")
    with_schemas(encode)
    encode.set_defaults(run=cmd_encode)

    inspect = commands.add_parser("inspect", help="frames as a readable table")
    reading(inspect)
    inspect.add_argument("--hex", action="store_true", help="hex dump of each frame")
    inspect.add_argument("--limit", type=int, default=None, metavar="N", help="first N frames")
    inspect.set_defaults(run=cmd_inspect)

    stats = commands.add_parser("stats", help="counts, rates, gaps and bad stretches")
    reading(stats)
    stats.set_defaults(run=cmd_stats)

    generate = commands.add_parser("generate", help="write a realistic synthetic capture")
    generate.add_argument("--frames", type=int, required=True, metavar="N")
    generate.add_argument("-o", "--output", required=True, metavar="CAPTURE")
    generate.add_argument("--seed", type=int, default=7)
    generate.set_defaults(run=cmd_generate)

    demo = commands.add_parser("demo", help="build, write and decode a session of every type")
    demo.add_argument("-o", "--output", default="demo-session.bin", metavar="CAPTURE")
    demo.add_argument("--frames", type=int, default=2000, metavar="N")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = options.run
    try:
        _load_schemas(options)
        return run(options)
    except CommandError as error:
        print(f"alphapulse: error: {error}", file=sys.stderr)
        return error.code
    except (ParseError, ValueError) as error:
        print(f"alphapulse: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader went away (| head): stop quietly, without a second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        print(f"alphapulse: error: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130
