"""``alphapulse relay``: run the domain relays, one process each; ``alphapulse relay stats``:
their counters, per relay and per connection."""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from ..relay import DOMAINS, DomainPolicy, default_policy, runtime_dir_of
from ..relay.client import relay_stats
from ..relay.server import RelayServer
from ..transport.config import load_config
from ..wire.enums import RelayRole
from ..wire.errors import ConfigError, RelayError
from .common import EXIT_BAD_ARGUMENTS, EXIT_OK, EXIT_UNREADABLE, CommandError, command
from .text import source_text, timestamp_text

RELAY = """\
Run the domain relays of the design: market_data (types 1-19), signals (20-39), execution
(40-59) and system (100-109), each in its own process, on <runtime dir>/<domain>.sock.
Without --domain all four run; SIGINT or SIGTERM stops them, after handing queued frames to
the consumers still reading. alphapulse relay stats prints their counters."""

RELAY_EXAMPLES = """\
  alphapulse relay
  alphapulse relay --domain market_data --runtime-dir /run/alphapulse
  alphapulse relay --config examples/relays.yml
  alphapulse relay stats
  alphapulse relay stats --domain execution --json
"""

_ROLES = {int(RelayRole.Producer): "producer", int(RelayRole.Consumer): "consumer",
          int(RelayRole.Monitor): "monitor"}


def policies(options: argparse.Namespace) -> dict[str, DomainPolicy]:
    """The policy of every domain a relay carries: of --config when given (its runtime_dir
    under --runtime-dir; the domains on unix_socket, the others have no relay), else the
    design's defaults in the runtime directory."""
    if options.config:
        try:
            endpoints = load_config(options.config, runtime_dir=options.runtime_dir).endpoints
        except ConfigError as error:
            raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
        if options.domain and endpoints[options.domain].transport != "unix_socket":
            raise CommandError(f"{options.config}: {options.domain} is on"
                               f" {endpoints[options.domain].transport}, not on a relay",
                               EXIT_BAD_ARGUMENTS)
        return {domain: endpoint.policy for domain, endpoint in endpoints.items()
                if endpoint.transport == "unix_socket"}
    directory = runtime_dir_of(options.runtime_dir)
    return {domain: default_policy(domain, directory) for domain in DOMAINS}


def run(options: argparse.Namespace) -> int:
    if options.action == "stats":
        return stats(options)
    if options.json:
        raise CommandError("--json goes with `alphapulse relay stats`", EXIT_UNREADABLE)
    chosen = policies(options)
    if options.domain:
        try:
            RelayServer(chosen[options.domain]).serve_forever()
        except RelayError as error:
            raise CommandError(str(error), EXIT_UNREADABLE) from None
        return EXIT_OK
    return _run_all(options)


def _run_all(options: argparse.Namespace) -> int:
    """One process per domain (a burst of market data never slows execution); the first to
    fail stops the others."""
    passed_on = [*(["--config", options.config] if options.config else []),
                 *(["--runtime-dir", options.runtime_dir] if options.runtime_dir else [])]
    children = {domain: subprocess.Popen(
        [sys.executable, "-m", "alphapulse_codec", "relay", "--domain", domain, *passed_on])
        for domain in policies(options)}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = 0
    while not stopping and not failed:
        for child in children.values():
            code = child.poll()
            if code is not None:
                failed = code or EXIT_UNREADABLE  # a relay that stops by itself is a failure
        time.sleep(0.1)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return failed


def stats(options: argparse.Namespace) -> int:
    domains = [options.domain] if options.domain else list(DOMAINS)
    chosen = policies(options)
    reports, missing = [], []
    for domain in domains:
        try:
            reports.append(relay_stats(domain, config=chosen))
        except RelayError as error:
            missing.append(f"{domain}: {error}")
    if options.json:
        print(json.dumps({"relays": reports, "unreachable": missing}, indent=2))
    else:
        _print(reports)
    for line in missing:
        print(f"alphapulse: {line}", file=sys.stderr)
    if not reports:
        raise CommandError("no relay answered", EXIT_UNREADABLE)
    return EXIT_OK


def _print(reports: list[dict[str, Any]]) -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    for report in reports:
        console.print(f"[bold]{report['domain']}[/] relay, pid {report['relay_pid']},"
                      f" {report['path']}, since {timestamp_text(report['started_at'])}")
        console.print(f"  in {report['frames_in']:,} frames ({report['bytes_in']:,} bytes),"
                      f" out {report['frames_out']:,} ({report['bytes_out']:,} bytes),"
                      f" dropped {report['frames_dropped']:,}, refused {report['frames_refused']:,},"
                      f" gaps {report['gaps']:,}, disconnects {report['disconnects']:,}")
        table = Table("id", "role", "name", "pid", "source", "frames in", "frames out",
                      "dropped", "refused", "gaps", "queued", "connected since",
                      box=None, header_style="bold")
        for c in report["connections"]:
            refused = sum(v for k, v in c.items() if k.startswith("refused_"))
            table.add_row(str(c["connection_id"]), _ROLES.get(c["role"], "-"), c["name"] or "-",
                          str(c["client_pid"]), source_text(c["source"]) if c["source"] else "-",
                          f"{c['frames_in']:,}", f"{c['frames_out']:,}", f"{c['frames_dropped']:,}",
                          f"{refused:,}", f"{c['gaps']:,}",
                          f"{c['queue_frames']:,} ({c['queue_bytes']:,} B)",
                          timestamp_text(c["connected_since"]))
        console.print(table)


def add_commands(commands: Any) -> None:
    parser = command(commands, "relay", "run the domain relays, or print their counters",
                     RELAY, RELAY_EXAMPLES)
    parser.add_argument("action", nargs="?", choices=("serve", "stats"), default="serve",
                        help="serve (the default) runs relays; stats prints their counters")
    parser.add_argument("--domain", choices=tuple(DOMAINS),
                        help="one domain only (default: all four)")
    parser.add_argument("--runtime-dir", metavar="DIR",
                        help="where the sockets are (default: the config's runtime_dir, else"
                             " $XDG_RUNTIME_DIR/alphapulse, else /tmp/alphapulse)")
    parser.add_argument("--config", metavar="FILE",
                        help="the relays' YAML configuration (see alphapulse config check)")
    parser.add_argument("--json", action="store_true", help="stats as JSON")
    parser.set_defaults(run=run)
