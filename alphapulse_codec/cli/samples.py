"""``alphapulse generate``: a realistic synthetic capture of any size."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..samples.synthetic import write_capture
from .common import EXIT_OK, command, non_negative_int, whole_number_to, written

# a capture is written a block at a time, so memory is no bound: past this the request is a
# slip of the keyboard that would fill the disk (about 70 GB of frames)
MAX_FRAMES = 1_000_000_000

GENERATE = """\
Write a synthetic capture that looks like a trading session: quotes and trades from several
collectors and venues, with realistic prices, sequences and timestamps. The same seed gives
the same bytes. The file appears whole or not at all."""

GENERATE_EXAMPLES = """\
  alphapulse generate --frames 200000 -o session.bin
  alphapulse generate --frames 1000 --seed 42 -o small.bin
"""


def generate(options: argparse.Namespace) -> int:
    path = Path(options.output)
    with written(path) as temporary:
        count = write_capture(temporary, options.frames, seed=options.seed)
        size = temporary.stat().st_size
    print(f"wrote {count:,} frames ({size:,} bytes) to {path}", file=sys.stderr)
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = command(commands, "generate", "write a realistic synthetic capture", GENERATE,
                     GENERATE_EXAMPLES)
    parser.add_argument("--frames", type=whole_number_to(MAX_FRAMES), required=True, metavar="N",
                        help=f"how many frames to write, from 1 to {MAX_FRAMES:,}")
    parser.add_argument("-o", "--output", required=True, metavar="CAPTURE",
                        help="the capture file to write")
    parser.add_argument("--seed", type=non_negative_int, default=7,
                        help="seed of the random session, a whole number of at least 0"
                             " (default 7)")
    parser.set_defaults(run=generate)
