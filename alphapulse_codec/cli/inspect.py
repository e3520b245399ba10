"""``alphapulse inspect``: frames as readable rows, printed as they are read, with an optional
hex dump."""
from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from typing import Any

from ..capture.batch import BadStretch
from ..wire._codec import InstrumentId, Message
from .common import add_capture_options, command, command_registry, positive_int
from .reading import read_capture, stretch_text
from .text import source_text, timestamp_text

INSPECT = """\
Print a capture's frames one row each, as they are read: index, byte offset, size, type,
sequence, timestamp, source, the first instrument and the first fields. A bad stretch gets a
row of its own between the good frames around it, and a line on stderr; exit 1 if there was
any."""

INSPECT_EXAMPLES = """\
  alphapulse inspect session.bin | less -S
  alphapulse inspect session.bin --limit 20 --hex
  alphapulse inspect session.bin --types MEVOpportunity,PoolDiscovered
  tail -c +1 -f live.bin | alphapulse inspect -
"""

COLUMNS = (("#", 7), ("offset", 11), ("size", 6), ("type", 21), ("sequence", 10),
           ("timestamp", 31), ("source", 21), ("instrument", 31), ("fields", 0))


def hexdump(data: bytes, start: int = 0) -> str:
    """Offset, 16 bytes of hex, and their printable ASCII, per line."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = data[at:at + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start + at:08x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(lines)


def _plan(message: Message) -> tuple[str | None, list[str]]:
    """Which fields a row shows for the message's type: its first InstrumentId field and the
    first three others (the same for every message of a type, so found once per type)."""
    cls = type(message)
    if cls not in _PLANS:
        instrument: str | None = None
        others: list[str] = []
        for name, value in message.fields().items():
            if isinstance(value, InstrumentId):
                instrument = instrument or name
            elif len(others) < 3:
                others.append(name)
        _PLANS[cls] = instrument, others
    return _PLANS[cls]


_PLANS: dict[type, tuple[str | None, list[str]]] = {}


def _summary(message: Message) -> tuple[str, str]:
    """The first InstrumentId in the body, and the first three other values."""
    instrument, others = _plan(message)
    values = []
    for name in others:
        value = getattr(message, name)
        if isinstance(value, bytes):
            value = "0x" + value[:8].hex() + ("..." if len(value) > 8 else "")
        elif isinstance(value, str) and not value.isprintable():
            value = repr(value)  # a control character would break the row, or drive a terminal
        values.append(f"{name}={value}")
    return _instrument_text(getattr(message, instrument)) if instrument else "-", " ".join(values)


@lru_cache(maxsize=4096)  # a capture's frames come from a few instruments, over and over
def _instrument_text(instrument: InstrumentId) -> str:
    return instrument.debug_info()


ROW = " ".join(f"%-{width}s" for _, width in COLUMNS)


def row(*values: object) -> str:
    """One line of fixed-width columns (a value wider than its column pushes the rest on)."""
    return (ROW % values).rstrip()


def frame_row(index: int, offset: int, message: Message) -> str:
    header = message.header
    instrument, values = _summary(message)
    return row(index, offset, message.size, type(message).layout.name, header.sequence,
               timestamp_text(header.timestamp), source_text(header.source), instrument, values)


def inspect(options: argparse.Namespace) -> int:
    with read_capture(options, command_registry(options)) as capture:
        out = sys.stdout  # looked up here: on a terminal the progress bar redirects it
        out.write(row(*(name for name, _ in COLUMNS)) + "\n")
        frames = 0
        for item in capture.items():
            if isinstance(item, BadStretch):
                out.write(stretch_text(item) + "\n")
                continue
            offset = capture.position - item.size
            out.write(frame_row(frames, offset, item) + "\n")
            if options.hex:
                out.write(f"frame {frames} ({type(item).layout.name}) at byte {offset}:\n"
                          + hexdump(item.to_bytes(), offset) + "\n")
            frames += 1
            if frames == options.limit:
                break
    return capture.exit_code()


def add_commands(commands: Any) -> None:
    parser = command(commands, "inspect", "frames as readable rows", INSPECT, INSPECT_EXAMPLES)
    add_capture_options(parser)
    parser.add_argument("--hex", action="store_true", help="a hex dump under each frame's row")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="stop after the first N frames")
    parser.set_defaults(run=inspect)
