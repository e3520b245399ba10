"""``alphapulse generate``: a realistic synthetic capture of any size."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ..samples.synthetic import write_capture
from ..wire.errors import FieldValueError
from .common import EXIT_OK


def generate(options: argparse.Namespace) -> int:
    if options.frames < 1:
        raise FieldValueError("--frames must be at least 1")
    path = Path(options.output)
    count = write_capture(path, options.frames, seed=options.seed)
    Console(file=sys.stderr, highlight=False).print(
        f"wrote {count:,} frames ({path.stat().st_size:,} bytes) to {path}")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("generate", help="write a realistic synthetic capture")
    parser.add_argument("--frames", type=int, required=True, metavar="N")
    parser.add_argument("-o", "--output", required=True, metavar="CAPTURE")
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(run=generate)
