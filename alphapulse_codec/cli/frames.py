"""``alphapulse decode`` and ``alphapulse encode``: frames to JSON lines and back, in the
shared JSON mapping (docs/protocol.md). ``decode --to`` hands over to the batch path."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..capture.batch import BadStretch
from ..wire.enums import MessageType
from ..wire.errors import ParseError, SchemaError
from ..wire.jsonmap import from_json, to_json
from .common import (EXIT_BAD_ARGUMENTS, EXIT_OK, EXIT_UNREADABLE, CommandError,
                     add_capture_options, add_schemas_option, check_export_target, command,
                     command_registry, output)
from .reading import read_capture

DECODE = """\
Decode a capture (frames back to back) to one JSON object per frame, written as it is read,
or with --to into a columnar file. A bad stretch of bytes is reported on stderr (its offset,
length and kind) and skipped: decoding resumes at the next good frame. Exit 1 if there was
any, or if --to found no frame to write (a capture without frames, or none of --types):
then no file is written, but with --to X.jsonl, which is written empty."""

DECODE_EXAMPLES = """\
  alphapulse decode session.bin > session.jsonl
  alphapulse decode session.bin --names --types Trade | head
  alphapulse decode session.bin --types trade,quote -o quotes-and-trades.jsonl
  cat session.bin | alphapulse decode - --types Trade --types Fill
  alphapulse decode session.bin --schemas schemas.yaml
  alphapulse decode session.bin --to session.parquet --types Trade
  alphapulse decode session.bin --to trades.parquet --types Trade --prices decimal
"""

ENCODE = """\
Encode JSON lines (one object per frame, as decode writes them) into a capture. Enum fields
take a name in any case ("side": "buy") or the number. The output appears whole or not at all:
a bad line leaves no file behind."""

ENCODE_EXAMPLES = """\
  alphapulse encode --from-jsonl session.jsonl -o session.bin
  alphapulse decode in.bin | alphapulse encode --from-jsonl - -o out.bin
"""


def decode(options: argparse.Namespace) -> int:
    if options.to and options.output:
        raise CommandError("-o and --to both name an output: give one (-o for JSON lines,"
                           " --to for a columnar file)", EXIT_BAD_ARGUMENTS)
    if not options.to:
        for given, name in ((options.prices is not None, "--prices"), (options.raw, "--raw")):
            if given:
                raise CommandError(f"{name} applies to --to (a columnar file); JSON lines"
                                   " follow the shared JSON mapping", EXIT_BAD_ARGUMENTS)
    if options.to:
        check_export_target(options.to, options.raw)
        from .capture import decode_to  # the exporters only where they are used

        return decode_to(options)
    registry = command_registry(options)
    with read_capture(options, registry) as capture, output(options.output) as out:
        for item in capture.items():
            if not isinstance(item, BadStretch):
                out.write(json.dumps(to_json(item, options.names), separators=(",", ":"))
                          + "\n")
    return capture.exit_code()


def encode(options: argparse.Namespace) -> int:
    registry = command_registry(options)
    try:
        source = open(options.from_jsonl, "rb") if options.from_jsonl != "-" else sys.stdin.buffer
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
            except UnicodeDecodeError as error:
                raise CommandError(f"line {number}: not UTF-8 text (byte 0x{line[error.start]:02x}"
                                   f" at column {error.start + 1}): JSON lines were expected"
                                   ) from None
            except RecursionError:
                raise CommandError(f"line {number}: the JSON nests too deeply") from None
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = command(commands, "decode", "frames to JSON lines or columnar files", DECODE,
                     DECODE_EXAMPLES)
    add_capture_options(parser)
    parser.add_argument("--format", choices=["jsonl"], default="jsonl",
                        help="output format without --to: JSON lines, one object per frame")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the JSON lines to OUT (default stdout)")
    parser.add_argument("--names", action="store_true",
                        help="write enum values by name (\"side\": \"Buy\") instead of the"
                        " numbers of the shared JSON mapping; encode reads either")
    parser.add_argument("--to", metavar="OUT", help="batch-decode into OUT.parquet, .arrow,"
                        " .csv, .npz or .jsonl, a chunk at a time; several types make one file"
                        " per type")
    parser.add_argument("--prices", choices=["float", "decimal", "raw"], default=None,
                        help="with --to: prices as floats (default), exact decimals, or the"
                        " integers of the wire (scale 1e-8)")
    parser.add_argument("--raw", action="store_true",
                        help="with --to: the exact wire columns (header, IDs as four numbers,"
                        " tails as bytes) instead of readable ones")
    parser.set_defaults(run=decode)

    parser = command(commands, "encode", "JSON lines to frames", ENCODE, ENCODE_EXAMPLES)
    parser.add_argument("--from-jsonl", required=True, metavar="FILE",
                        help="JSON lines to encode, or - for stdin")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the capture to write, or - for stdout")
    add_schemas_option(parser)
    parser.set_defaults(run=encode)
