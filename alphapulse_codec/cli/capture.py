"""The batch commands: ``decode --to`` (captures to columnar files) and ``stats``; both read
the capture chunk by chunk in the nogil batch loop and skip bad stretches, reporting them."""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..capture.batch import BatchResult
from ..capture.export import write_batches
from ..capture.stats import capture_stats
from .common import (EXIT_BAD_INPUT, add_capture_options, command, command_registry,
                     replacing)
from .reading import read_capture
from .text import count, source_text, timestamp_text

STATS = """\
Count a capture's frames per type and per source, with their rates, the gaps and duplicates
in each source's sequence numbers, and the time span. Bad stretches are reported on stderr
and skipped; exit 1 if there was any."""

STATS_EXAMPLES = """\
  alphapulse stats session.bin
  alphapulse stats session.bin --types Trade,Quote
  zcat session.bin.gz | alphapulse stats -
"""


def decode_to(options: argparse.Namespace) -> int:
    frames = 0

    def counted(batches: Iterator[BatchResult]) -> Iterator[BatchResult]:
        nonlocal frames
        for result in batches:
            frames += len(result)
            yield result

    unreadable = []

    def note(message: Warning | str, *_: Any) -> None:
        unreadable.append(message)
        capture.meter.note(str(message))

    with read_capture(options, command_registry(options)) as capture, \
            replacing(options.to) as directory, warnings.catch_warnings():
        warnings.showwarning = note  # values a readable column cannot hold: noted, exit 1
        written = write_batches(counted(capture.batches()), directory / Path(options.to).name,
                                raw=options.raw, prices=options.prices or "float")
    paths = [Path(options.to).parent / path.name for path in written]
    if not paths:
        held = "none of --types" if options.types else "no frames"
        print(f"alphapulse: no file written to {options.to}: the capture held {held}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{count(frames, 'frame')} written to {', '.join(str(p) for p in paths)}",
          file=sys.stderr)
    return EXIT_BAD_INPUT if unreadable else capture.exit_code()


def stats(options: argparse.Namespace) -> int:
    registry = command_registry(options)
    with read_capture(options, registry) as capture:
        summary = capture_stats(capture.batches())
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(f"{summary.frames:,} frames, {summary.bytes:,} bytes")
    if summary.first_timestamp is not None:
        console.print(f"time span: {timestamp_text(summary.first_timestamp)} .. "
                      f"{timestamp_text(summary.last_timestamp or 0)} "
                      f"({summary.span_seconds:.3f} s)")
    types = Table("type", "frames", "frames/s", box=None, header_style="bold")
    for message_type, count in sorted(summary.per_type.items()):
        types.add_row(registry.type_name(message_type), f"{count:,}",
                      f"{summary.rate(message_type):,.1f}")
    console.print(types)
    sources = Table("source", "frames", "gaps", "missing", "duplicates", "highest sequence",
                    box=None, header_style="bold")
    for number, source in sorted(summary.per_source.items()):
        sources.add_row(source_text(number), f"{source.frames:,}", f"{source.gaps:,}",
                        f"{source.missing:,}", f"{source.duplicates:,}",
                        str(source.highest_sequence))
    console.print(sources)
    return capture.exit_code()


def add_commands(commands: Any) -> None:
    parser = command(commands, "stats", "counts, rates, gaps and bad stretches", STATS,
                     STATS_EXAMPLES)
    add_capture_options(parser)
    parser.set_defaults(run=stats)
