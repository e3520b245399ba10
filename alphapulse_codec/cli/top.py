"""``alphapulse top``: the design's multi-relay dashboard in the terminal."""
from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live

from ..relay.client import relay_stats
from ..relay.many import MultiConsumer, subscribe_many
from ..wire.errors import ConfigError, RelayError
from .common import EXIT_BAD_ARGUMENTS, EXIT_OK, CommandError, command, duration_seconds
from .dashboard import Dashboard

TOP = """\
A live view of the relays: rates per relay and per message type, the last trade and quote per
instrument (named from the discovery messages seen), the latest signals, orders and fills,
drops and gaps (from the gap notices received and the relays' counters). It subscribes to
every relay of a dashboard configuration (default: the four relays of the runtime
directory); a relay that is down is shown down and reconnected. q quits. With --duration, or
when stdout is not a terminal, it runs that long (default 5 s) and prints the view once."""

TOP_EXAMPLES = """\
  alphapulse top
  alphapulse top --config examples/dashboard_config.yml
  alphapulse top --duration 3 > view.txt
"""

REFRESH = 0.25          # seconds between redraws
STATS_EVERY = 1.0       # seconds between two looks at the relays' counters
PRINTED_DURATION = 5.0  # seconds collected before printing the view once


@contextmanager
def keys() -> Iterator[Any]:
    """The terminal in cbreak mode (keys arrive one by one, unechoed), restored on the way
    out whatever happens; a function telling the key pressed, if any."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)

        def pressed() -> str:
            if select.select([fd], [], [], 0)[0]:
                return os.read(fd, 32).decode("utf-8", "replace")
            return ""

        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _poll(relays: MultiConsumer, dashboard: Dashboard, counters_due: list[float]) -> None:
    for domain, result in relays.recv_batch(timeout=REFRESH):
        dashboard.feed(domain, result)
    dashboard.relay_status(relays.status, relays.gaps)
    if time.monotonic() >= counters_due[0]:
        counters_due[0] = time.monotonic() + STATS_EVERY
        for domain in relays.domains:
            try:
                report = relay_stats(domain, config=relays.subscription_policy(domain),
                                     timeout=1.0)
            except (RelayError, OSError):
                report = None
            dashboard.relay_counters(domain, report)
    dashboard.tick()


def run(options: argparse.Namespace) -> int:
    try:
        relays = subscribe_many(options.config, runtime_dir=options.runtime_dir,
                                name="alphapulse top")
    except ConfigError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    dashboard = Dashboard(relays.domains)
    counters_due = [0.0]
    interactive = options.duration is None and sys.stdout.isatty() and sys.stdin.isatty()
    with relays:
        if not interactive:
            deadline = time.monotonic() + (options.duration or PRINTED_DURATION)
            while time.monotonic() < deadline:
                _poll(relays, dashboard, counters_due)
            Console(width=None if sys.stdout.isatty() else 120).print(
                dashboard.render(interactive=False))
            return EXIT_OK
        with keys() as pressed, Live(dashboard.render(), auto_refresh=False,
                                     screen=True) as live:
            while "q" not in pressed().lower():
                _poll(relays, dashboard, counters_due)
                live.update(dashboard.render(), refresh=True)
    return EXIT_OK


def add_commands(commands: Any) -> None:
    parser = command(commands, "top", "a live view of the relays", TOP, TOP_EXAMPLES)
    parser.add_argument("--config", metavar="FILE",
                        help="a dashboard configuration (dashboard_config.yml); default: the"
                             " four relays of the runtime directory")
    parser.add_argument("--runtime-dir", metavar="DIR", help="where the relays' sockets are")
    parser.add_argument("--duration", type=duration_seconds, metavar="SECONDS",
                        help="run this long, from 0.001 to a year (31,536,000), then print"
                             " the view once and exit")
    parser.set_defaults(run=run)
