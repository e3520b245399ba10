"""The ``alphapulse`` command line, one module per command group.

Exit codes: 0 clean, 1 bad frames or bad content found (what could be decoded still is),
2 the input cannot be read, the arguments are wrong, or a package the command needs is not
installed (the message names the extra that brings it). Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from importlib.metadata import version

from ..wire.enums import MessageType
from ..wire.errors import MissingExtraError, ParseError
from ..wire.optional import require
from .common import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError
from .streams import standard_streams


DESCRIPTION = """\
Decode, encode, inspect and summarise captures of AlphaPulse frames (files of frames back to
back). Every command that reads a capture reads - as stdin, in bounded memory, skips bad
stretches of bytes (reported on stderr) and shows its progress on stderr when it is a
terminal.

exit codes: 0 clean; 1 bad frames or content found (what could be decoded still is);
2 a file cannot be read or written, the arguments are wrong, or a package the command needs
is not installed."""

EXAMPLES = """\
examples:
  alphapulse generate --frames 200000 -o session.bin
  alphapulse inspect session.bin --limit 20
  alphapulse decode session.bin --types Trade,Quote > frames.jsonl
  alphapulse decode session.bin --to session.parquet
  alphapulse stats session.bin
  alphapulse config check examples/relays.yml
  alphapulse COMMAND --help
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; MissingExtraError without the `cli` extra (rich draws the
    tables and the progress bar of the commands)."""
    require("rich", "the alphapulse command")
    from . import capture, config, demo, frames, inspect, record, relay, samples, top

    parser = argparse.ArgumentParser(prog="alphapulse", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", help="print the version and exit",
                        version=f"alphapulse_codec {version('alphapulse_codec')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="alphapulse COMMAND --help tells more")
    for group in (frames, inspect, capture, samples, demo, relay, record, top, config):
        group.add_commands(commands)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    options, unknown = parser.parse_known_args(argv)
    if unknown:
        hint = ""
        types, capture = getattr(options, "types", None), getattr(options, "capture", "")
        if types and capture.lower() in {m.name.lower() for m in MessageType}:
            # `--types Trade Quote CAPTURE`: Quote was read as the capture
            hint = (f" (--types takes one value; several are comma-separated:"
                    f" --types {types[-1]},{capture})")
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return options


def _report(error: BaseException | str, code: int) -> int:
    # messages of other libraries (a YAML parser's, say) span lines: the command's error is one
    # an exception without a message (a bare TimeoutError) is named rather than left blank
    text = " ".join(str(error).split()) or type(error).__name__
    print("alphapulse: error:", text, file=sys.stderr)
    return code


class _Terminated(BaseException):
    """SIGTERM (kill, timeout, a service manager), raised so that the outputs being written
    are removed on the way out, as on Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _run(argv)  # only the main thread may handle signals
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> int:
    with standard_streams():
        return _run_command(argv)


def _run_command(argv: list[str] | None) -> int:
    try:
        options = _parse(build_parser(), argv)
        run: Callable[[argparse.Namespace], int] = options.run
        code = run(options)
        sys.stdout.flush()  # a failure to write what is still buffered is the command's to tell
        return code
    except MissingExtraError as error:
        return _report(error, EXIT_UNREADABLE)
    except CommandError as error:
        return _report(error, error.code)
    except (ParseError, ValueError) as error:
        return _report(error, EXIT_BAD_INPUT)
    except BrokenPipeError:
        # the reader went away (| head): stop quietly, without a second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        return _report(error, EXIT_UNREADABLE)
    except RecursionError:
        return _report("the input nests too deeply to be read", EXIT_BAD_INPUT)
    except MemoryError:
        return _report("out of memory: the input or the limits asked for are too large",
                       EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return 130
    except _Terminated:
        return 128 + signal.SIGTERM
