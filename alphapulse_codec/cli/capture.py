"""The batch commands: ``decode --to`` (captures to columnar files) and ``stats``; both read
the capture chunk by chunk in the nogil batch loop and skip bad stretches, reporting them."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)
from rich.table import Table

from ..capture.batch import BatchResult, iter_batches
from ..capture.stats import capture_stats
from ..schemas.registry import Registry
from ..wire.errors import FieldValueError
from .common import EXIT_BAD_INPUT, EXIT_OK, add_capture_options, command_registry
from .text import source_text, timestamp_text


@contextmanager
def _progress(total: int) -> Iterator[Progress]:
    """A progress bar on stderr, shown only when stderr is a terminal."""
    console = Console(file=sys.stderr)
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[frames]:,} frames"),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not console.is_terminal,
                  transient=True) as progress:
        yield progress


def _chunks(options: argparse.Namespace, registry: Registry) -> Iterator[BatchResult]:
    """The capture's chunks, in order, with progress: bytes, frames, frames/s, time left."""
    path = options.capture
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise OSError(f"cannot read {path}: {error.strerror}") from None
    types = getattr(options, "types", None)
    for name in types or []:
        try:
            registry.type_of_name(name)
        except KeyError:
            raise FieldValueError(f"--types: unknown message type {name!r} (a type that the"
                                  " capture announces goes by its number)") from None
    with _progress(size) as progress:
        task = progress.add_task("decoding", total=size, frames=0, rate="")
        frames = 0
        for result in iter_batches(path, verify=not options.no_verify, types=types,
                                   max_frame_size=options.max_frame_size, registry=registry):
            frames += len(result)
            done = max([int(result.offsets(t)[-1]) for t in result.types] or [0])
            elapsed = progress.tasks[0].elapsed or 0
            rate = f"{frames / elapsed / 1e6:.1f} M frames/s" if elapsed > 0 else ""
            progress.update(task, completed=min(size, max(done, progress.tasks[0].completed)),
                            frames=frames, rate=rate)
            yield result


def _report_errors(result_errors: list, console: Console) -> int:
    if not result_errors:
        return EXIT_OK
    console.print(f"{len(result_errors)} bad stretch(es), skipped:")
    for stretch in result_errors[:20]:
        console.print(f"  byte {stretch.offset}: {stretch.length} bytes, {stretch.kind}")
    if len(result_errors) > 20:
        console.print(f"  ... and {len(result_errors) - 20} more")
    return EXIT_BAD_INPUT


def _report_refused(refused: list[str], console: Console) -> int:
    for reason in refused:
        console.print(f"schema announcement refused: {reason}")
    return EXIT_BAD_INPUT if refused else EXIT_OK


def decode_to(options: argparse.Namespace) -> int:
    result = BatchResult.concat(_chunks(options, command_registry(options)))
    written = result.write(options.to)
    console = Console(file=sys.stderr, highlight=False)
    console.print(f"{len(result):,} frames of {len(result.types)} type(s) written to "
                  + ", ".join(str(p) for p in written))
    return max(_report_refused(result.refused_schemas, console),
               _report_errors(result.errors, console))


def stats(options: argparse.Namespace) -> int:
    registry = command_registry(options)
    summary = capture_stats(_chunks(options, registry))
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
    return max(_report_refused(summary.refused_schemas, console),
               _report_errors(summary.errors, console))


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("stats", help="counts, rates, gaps and bad stretches")
    add_capture_options(parser)
    parser.set_defaults(run=stats)
