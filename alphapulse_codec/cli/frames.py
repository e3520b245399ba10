"""``alphapulse decode`` and ``alphapulse encode``: frames to JSON lines and back, in the
shared JSON mapping (docs/protocol.md). ``decode --to`` hands over to the batch path."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from ..schemas.registry import Registry
from ..wire._codec import Message, iter_frames
from ..wire.enums import MessageType
from ..wire.errors import ParseError, SchemaError
from ..wire.jsonmap import from_json, to_json
from .common import (EXIT_OK, EXIT_UNREADABLE, CommandError, add_capture_options,
                     add_schemas_option, command_registry, output, read_input)


def messages(data: Any, options: argparse.Namespace, registry: Registry) -> Iterator[Message]:
    """The messages of a capture; a bad frame ends the iteration with its error. A schema
    announcement is learned before the frames after it are read."""
    frames = iter_frames(data, verify=not options.no_verify, max_frame_size=options.max_frame_size,
                         registry=registry)
    try:
        for message in frames:
            if message.header.message_type == MessageType.SchemaAnnouncement:
                registry.learn(message)
            yield message
    except ParseError as error:
        raise CommandError(str(error)) from None
    except SchemaError as error:
        raise CommandError(f"frame at byte {frames.position - message.size}: {error}") from None


def decode(options: argparse.Namespace) -> int:
    if options.to:
        from .capture import decode_to  # rich and the exporters only where they are used

        return decode_to(options)
    registry = command_registry(options)
    data = read_input(options.capture)
    with output(options.output) as out:
        for message in messages(data, options, registry):
            out.write(json.dumps(to_json(message), separators=(",", ":")) + "\n")
    return EXIT_OK


def encode(options: argparse.Namespace) -> int:
    registry = command_registry(options)
    try:
        source = open(options.from_jsonl) if options.from_jsonl != "-" else sys.stdin
    except OSError as error:
        raise CommandError(f"cannot read {options.from_jsonl}: {error.strerror}",
                           EXIT_UNREADABLE) from None
    with source, output(options.output, binary=True) as out:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                frame = from_json(json.loads(line), registry)
                if frame[4] == MessageType.SchemaAnnouncement:
                    registry.learn(frame)  # the lines after it may use its schema
                out.write(frame)
            except (json.JSONDecodeError, ParseError, SchemaError) as error:
                raise CommandError(f"line {number}: {error}") from None
            except RecursionError:
                raise CommandError(f"line {number}: the JSON nests too deeply") from None
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("decode", help="frames to JSON lines or columnar files")
    add_capture_options(parser)
    parser.add_argument("--format", choices=["jsonl"], default="jsonl")
    parser.add_argument("-o", "--output", metavar="OUT", help="JSON lines output (default stdout)")
    parser.add_argument("--to", metavar="OUT", help="batch-decode into OUT.parquet, .arrow,"
                        " .csv, .npz or .jsonl (bad stretches are skipped and reported)")
    parser.add_argument("--types", nargs="+", metavar="TYPE", help="only these message types")
    parser.set_defaults(run=decode)

    parser = commands.add_parser("encode", help="JSON lines to frames")
    parser.add_argument("--from-jsonl", required=True, metavar="FILE")
    parser.add_argument("-o", "--output", required=True, metavar="OUT")
    add_schemas_option(parser)
    parser.set_defaults(run=encode)
