"""``alphapulse inspect``: frames as a readable table, with an optional hex dump."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from ..wire._codec import InstrumentId, Message
from .common import EXIT_OK, add_capture_options, command_registry, read_input
from .frames import messages
from .text import source_text, timestamp_text


def hexdump(data: bytes, start: int = 0) -> str:
    """Offset, 16 bytes of hex, and their printable ASCII, per line."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = data[at:at + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start + at:08x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(lines)


def _summary(message: Message) -> tuple[str, str]:
    """The first InstrumentId in the body, and the first three other values."""
    instrument, values = "-", []
    for name, value in message.fields().items():
        if isinstance(value, InstrumentId):
            if instrument == "-":
                instrument = value.debug_info()
        elif len(values) < 3:
            if isinstance(value, bytes):
                value = "0x" + value[:8].hex() + ("..." if len(value) > 8 else "")
            values.append(f"{name}={value}")
    return instrument, " ".join(values)


def print_frames(messages: Iterable[Message], limit: int | None = None,
                 hexdump_frames: bool = False, console: Console | None = None) -> int:
    if console is None:
        wide = None if sys.stdout.isatty() else 250  # a pipe or file gets whole rows
        console = Console(highlight=False, width=wide)
    table = Table("#", "offset", "size", "type", "sequence", "timestamp", "source", "instrument",
                  "fields", box=None, header_style="bold")
    dumps: list[str] = []
    offset = shown = 0
    for shown, message in enumerate(messages, 1):
        header = message.header
        instrument, values = _summary(message)
        table.add_row(str(shown - 1), str(offset), str(message.size), type(message).__name__,
                      str(header.sequence), timestamp_text(header.timestamp),
                      source_text(header.source), instrument, values)
        if hexdump_frames:
            dumps.append(f"frame {shown - 1} ({type(message).__name__}) at byte {offset}:\n"
                         + hexdump(message.to_bytes(), offset))
        offset += message.size
        if limit is not None and shown >= limit:
            break
    console.print(table)
    for dump in dumps:
        console.print(dump, markup=False)
    return shown


def render(messages: Iterable[Any], **options: Any) -> str:
    """The table as plain text (for tests and for piping)."""
    with open(os.devnull, "w") as sink:
        console = Console(record=True, width=250, color_system=None, file=sink)
        print_frames(messages, console=console, **options)
    return console.export_text()


def inspect(options: argparse.Namespace) -> int:
    print_frames(messages(read_input(options.capture), options, command_registry(options)),
                 limit=options.limit, hexdump_frames=options.hex)
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("inspect", help="frames as a readable table")
    add_capture_options(parser)
    parser.add_argument("--hex", action="store_true", help="hex dump of each frame")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N frames")
    parser.set_defaults(run=inspect)
