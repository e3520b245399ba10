"""``alphapulse demo``: build a session of every message type, write it, read it back."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..samples.session import build_session
from ..wire._codec import MESSAGE_CLASSES, crc32_implementation, iter_frames
from ..wire.enums import Domain, MessageType
from . import live_demo
from .common import command, number_from, whole_number_to, written
from .text import timestamp_text

# the session is built, written, read back and compared in memory (some 350 bytes a frame):
# past this a slip of the keyboard would exhaust it
MAX_DEMO_FRAMES = 1_000_000
# the producers of --relays build what they send up front (20,000 market data frames a
# second, held in memory): the bound keeps a slip of the keyboard from exhausting it
MAX_DEMO_SECONDS = 600

DEMO = """\
Build a session with frames of every message type, write it, decode it back with every
checksum verified, and check that each frame re-encodes byte for byte.

With --relays, the live system instead: the four domain relays, a market-data producer (the
sample session), a signal producer, an order producer, a recorder and a consumer, each its own
process, run for --seconds; then what each saw, checked: every frame sent received, no gaps,
no drops on execution, the recording decoded back; exit 1 if any check fails. With --config
FILE (the shapes of docs/transports.md: the design's migration stages), each domain goes over
the transport the file gives it, the services' code unchanged: the relays run for the domains
on unix_socket or tcp only; NATS and Redis servers are the file's. --live does the
same with alphapulse top on screen (q quits). make demo runs both."""

DEMO_EXAMPLES = """\
  alphapulse demo
  alphapulse demo -o build/demo-session.bin --frames 300
  alphapulse demo --relays
  alphapulse demo --live --seconds 60
  alphapulse demo --relays --config stage2_mixed.yml
"""


def run(options: argparse.Namespace) -> int:
    if options.relays or options.live:
        return live_demo.run(options)
    console = Console(highlight=False)
    built = build_session(options.frames)
    path = Path(options.output)
    with written(path) as temporary:
        temporary.write_bytes(b"".join(built))
        data = temporary.read_bytes()
    decoded = list(iter_frames(data))  # every frame's checksum verified
    identical = len(decoded) == len(built) and all(
        message.to_bytes() == frame for message, frame in zip(decoded, built))
    counts = Counter(MessageType(message.header.message_type) for message in decoded)

    table = Table("type", "number", "domain", "frames", box=None, header_style="bold")
    for message_type in sorted(counts):
        domain = Domain.of(message_type)
        table.add_row(message_type.name, str(int(message_type)), domain.name if domain else "-",
                      str(counts[message_type]))
    console.print(f"wrote {len(built)} frames ({len(data):,} bytes) to {path}")
    console.print(table)
    first, last = decoded[0].header.timestamp, decoded[-1].header.timestamp
    console.print(f"time span: {timestamp_text(first)} .. {timestamp_text(last)}")
    pool = next(m for m in decoded if m.header.message_type == MessageType.PoolDiscovered)
    console.print(f"discovered {pool.symbol!r}: {pool.instrument_id.debug_info()}")
    console.print(f"types covered: {len(counts)} of {len(MESSAGE_CLASSES)}; CRC-32 path:"
                  f" {crc32_implementation()}")
    if not identical or len(counts) != len(MESSAGE_CLASSES):
        console.print("[bold red]round trip FAILED[/]: decoded frames differ from those written")
        return 1
    console.print("round trip: every frame decoded, verified and re-encoded byte for byte")
    return 0


def add_commands(commands: Any) -> None:
    parser = command(commands, "demo", "build, write and decode a session of every type", DEMO,
                     DEMO_EXAMPLES)
    parser.add_argument("-o", "--output", default="demo-session.bin", metavar="CAPTURE",
                        help="the capture file to write (default demo-session.bin)")
    parser.add_argument("--frames", type=whole_number_to(MAX_DEMO_FRAMES), default=2000,
                        metavar="N", help="about how many frames to build, at least one of each"
                        f" type, at most {MAX_DEMO_FRAMES:,} (default 2000)")
    parser.add_argument("--relays", action="store_true",
                        help="run the live system of relays, producers and consumers instead")
    parser.add_argument("--live", action="store_true",
                        help="the live system with alphapulse top on screen")
    parser.add_argument("--config", metavar="FILE",
                        help="with --relays: the transport of each domain (alphapulse config"
                             " check FILE prints what each domain will use)")
    parser.add_argument("--seconds", type=number_from(0.1, MAX_DEMO_SECONDS, "seconds"),
                        default=None, metavar="S",
                        help="how long the producers of --relays run, from 0.1 to"
                             f" {MAX_DEMO_SECONDS} (default 3; 60 with --live)")
    parser.set_defaults(run=run)
