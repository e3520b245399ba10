"""The ``alphapulse`` command line, one module per command group.

Exit codes: 0 clean, 1 bad frames or bad content found (what could be decoded still is),
2 the input cannot be read or the arguments are wrong. Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib.metadata import version

from ..wire.errors import ParseError
from . import capture, config, demo, frames, inspect, record, relay, samples, top
from .common import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNREADABLE, CommandError

COMMAND_GROUPS = (frames, inspect, capture, samples, demo, relay, record, top, config)


DESCRIPTION = """\
Decode, encode, inspect and summarise captures of AlphaPulse frames (files of frames back to
back). Every command that reads a capture reads - as stdin, in bounded memory, skips bad
stretches of bytes (reported on stderr) and shows its progress on stderr when it is a
terminal.

exit codes: 0 clean; 1 bad frames or content found (what could be decoded still is);
2 a file cannot be read or written, or the arguments are wrong."""

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
    parser = argparse.ArgumentParser(prog="alphapulse", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", help="print the version and exit",
                        version=f"alphapulse_codec {version('alphapulse_codec')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="alphapulse COMMAND --help tells more")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def _report(error: BaseException | str, code: int) -> int:
    # messages of other libraries (a YAML parser's, say) span lines: the command's error is one
    print("alphapulse: error:", " ".join(str(error).split()), file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = options.run
    try:
        return run(options)
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
