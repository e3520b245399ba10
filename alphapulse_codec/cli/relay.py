"""``alphapulse relay``: run the domain relays, one process each; ``alphapulse relay stats``:
their counters, per relay and per connection."""
from __future__ import annotations

import argparse
import json
import os
import ssl
import signal
import subprocess
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from ..relay import DOMAINS, DomainPolicy, default_policy, ensure_runtime_dir, runtime_dir_of
from ..relay.runtime_dir import socket_path_length_problem
from ..relay.client import relay_stats
from ..relay.server import RelayServer
from ..relay.tcp import Address, client_context, parse_address, server_context
from ..transport.config import RELAYED, load_config
from ..wire.enums import RelayRole
from ..wire.errors import ConfigError, RelayError
from .common import EXIT_BAD_ARGUMENTS, EXIT_OK, EXIT_UNREADABLE, CommandError, command
from .text import source_text, timestamp_text

RELAY = """\
Run the domain relays of the design: market_data (types 1-19), signals (20-39), execution
(40-59) and system (100-109), each in its own process, on <runtime dir>/<domain>.sock.
Without --domain all four run; SIGINT or SIGTERM stops them, after handing queued frames to
the consumers still reading. alphapulse relay stats prints their counters.

With --tcp HOST:PORT (and --domain) the relay listens on TCP as well, loopback unless HOST says
otherwise, port 0 for a free one (the port it took is printed when it starts); with --certfile
and --keyfile through TLS, and with --cafile every client must show a certificate signed by one
of those authorities. TCP has no uid to check: without client certificates it trusts the
network. For "relay stats --tcp", --cafile checks the relay's certificate and --certfile and
--keyfile are the client's own."""

RELAY_EXAMPLES = """\
  alphapulse relay
  alphapulse relay --domain market_data --runtime-dir /run/alphapulse
  alphapulse relay --config examples/relays.yml
  alphapulse relay --domain market_data --tcp 127.0.0.1:7001
  alphapulse relay --domain execution --tcp 0.0.0.0:7003 --certfile relay.pem --keyfile relay.key --cafile clients-ca.pem
  alphapulse relay stats
  alphapulse relay stats --domain execution --json
"""

_ROLES = {int(RelayRole.Producer): "producer", int(RelayRole.Consumer): "consumer",
          int(RelayRole.Monitor): "monitor"}




def policies(options: argparse.Namespace) -> dict[str, DomainPolicy]:
    """The policy of every domain a relay carries: of --config when given (its runtime_dir
    under --runtime-dir; the domains on unix_socket or tcp, the others have no relay), else
    the design's defaults in the runtime directory."""
    if options.config:
        try:
            endpoints = load_config(options.config, runtime_dir=options.runtime_dir).endpoints
        except ConfigError as error:
            raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
        if options.domain and endpoints[options.domain].transport not in RELAYED:
            raise CommandError(f"{options.config}: {options.domain} is on"
                               f" {endpoints[options.domain].transport}, not on a relay",
                               EXIT_BAD_ARGUMENTS)
        relayed = {domain: endpoint.policy for domain, endpoint in endpoints.items()
                   if endpoint.transport in RELAYED}
        if not relayed:
            raise CommandError(f"{options.config}: no domain is on a relay (each is on"
                               f" {_transports(endpoints)})", EXIT_BAD_ARGUMENTS)
        return relayed
    directory = runtime_dir_of(options.runtime_dir)
    return {domain: default_policy(domain, directory) for domain in DOMAINS}


def _transports(endpoints: dict[str, Any]) -> str:
    return ", ".join(sorted({endpoint.transport for endpoint in endpoints.values()}))


def run(options: argparse.Namespace) -> int:
    if options.action == "stats":
        return stats(options)
    if options.json:
        raise CommandError("--json goes with `alphapulse relay stats`", EXIT_UNREADABLE)
    chosen = policies(options)
    tcp = _tcp_of(options)
    if options.domain:
        files = {"certfile": options.certfile, "keyfile": options.keyfile,
                 "cafile": options.cafile}
        if tcp is None and options.config:
            tcp, files = _configured_listener(options)
        try:
            serve(chosen[options.domain], tcp=tcp, **files)
        except (RelayError, ConfigError) as error:
            raise CommandError(str(error), EXIT_UNREADABLE) from None
        return EXIT_OK
    if tcp is not None:
        raise CommandError("--tcp serves one relay: add --domain", EXIT_BAD_ARGUMENTS)
    return _run_all(options)


def serve(policy: DomainPolicy, *, tcp: Address | None = None,
          certfile: str | os.PathLike[str] | None = None,
          keyfile: str | os.PathLike[str] | None = None,
          cafile: str | os.PathLike[str] | None = None) -> None:
    """Run the relay of ``policy`` until SIGTERM or SIGINT: on its Unix socket, and on
    ``tcp`` (host, port) too when given, through TLS with ``certfile`` and ``keyfile``,
    requiring client certificates signed by ``cafile``'s authorities when it is given."""
    RelayServer(policy, tcp=tcp, tls=_server_tls(tcp, certfile, keyfile, cafile)).serve_forever()


def _server_tls(tcp: Address | None, certfile: Any, keyfile: Any, cafile: Any
                ) -> ssl.SSLContext | None:
    if certfile is None:
        if keyfile is not None or cafile is not None:
            raise ConfigError("--keyfile and --cafile go with --certfile, the relay's certificate")
        return None
    if tcp is None:
        raise ConfigError("--certfile: TLS is for a TCP listener: add --tcp HOST:PORT")
    return server_context(certfile, keyfile, cafile)


def _configured_listener(options: argparse.Namespace) -> tuple[Address | None, dict[str, Any]]:
    """The TCP listener and TLS files --config gives the relay of --domain (none for a
    unix_socket domain: its relay listens on its socket only)."""
    endpoint = load_config(options.config, runtime_dir=options.runtime_dir).endpoints[options.domain]
    if endpoint.transport != "tcp":
        return None, {}
    listener = endpoint.options
    return (listener["host"], listener["port"]), {
        key: listener.get(key) for key in ("certfile", "keyfile", "cafile")}


def _tcp_of(options: argparse.Namespace) -> Address | None:
    if options.tcp is None:
        return None
    try:
        return parse_address(options.tcp)
    except ValueError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None


def _run_all(options: argparse.Namespace) -> int:
    """One process per domain (a burst of market data never slows execution); the first to
    fail stops the others."""
    passed_on = [*(["--config", options.config] if options.config else []),
                 *(["--runtime-dir", options.runtime_dir] if options.runtime_dir else [])]
    chosen = policies(options)
    for policy in chosen.values():
        # checked here once, rather than by every relay after it started
        problem = socket_path_length_problem(policy.path)
        if problem:
            raise CommandError(f"{problem}: choose another with --runtime-dir",
                               EXIT_BAD_ARGUMENTS)
        try:
            ensure_runtime_dir(policy.path.parent, group=policy.socket_group)
        except ConfigError as error:
            raise CommandError(f"{error}: choose another with --runtime-dir",
                               EXIT_BAD_ARGUMENTS) from None
    children = {domain: subprocess.Popen(
        [sys.executable, "-m", "alphapulse_codec", "relay", "--domain", domain, *passed_on])
        for domain in chosen}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = 0
    while not stopping and not failed:
        for domain, child in children.items():
            code = child.poll()
            if code is not None:
                failed = _stopped_alone(domain, code)
                break
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


def _stopped_alone(domain: str, code: int) -> int:
    """Says that the relay of ``domain`` stopped by itself, a failure whatever its status (a
    relay killed by a signal says nothing itself); the command's exit status."""
    how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}")
    print(f"alphapulse: error: the {domain} relay stopped ({how}); stopping the others",
          file=sys.stderr, flush=True)
    return code if code > 0 else EXIT_UNREADABLE


def stats(options: argparse.Namespace) -> int:
    chosen = policies(options)
    domains = [options.domain] if options.domain else list(chosen)
    tcp = _tcp_of(options)
    if tcp is not None and not options.domain:
        raise CommandError("--tcp asks one relay: add --domain", EXIT_BAD_ARGUMENTS)
    try:
        tls = client_context(options.cafile, options.certfile, options.keyfile) \
            if tcp is not None and (options.cafile or options.certfile) else None
    except ConfigError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    reports, missing = [], []
    for domain in domains:
        try:
            reports.append(relay_stats(domain, config=chosen, address=tcp, tls=tls))
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
            table.add_row(str(c["connection_id"]), _ROLES.get(c["role"], "-"), c["name"] or "-",
                          str(c["client_pid"]), source_text(c["source"]) if c["source"] else "-",
                          f"{c['frames_in']:,}", f"{c['frames_out']:,}", f"{c['frames_dropped']:,}",
                          _refused_text(c), f"{c['gaps']:,}",
                          f"{c['queue_frames']:,} ({c['queue_bytes']:,} B)",
                          timestamp_text(c["connected_since"]))
        console.print(table)


def _refused_text(connection: dict[str, Any]) -> str:
    """A connection's refused frames, and how many for each reason: "3 (sequence 2, checksum
    1)"."""
    reasons = {key.removeprefix("refused_").replace("_", " "): count
               for key, count in connection.items() if key.startswith("refused_") and count}
    total = f"{sum(reasons.values()):,}"
    if not reasons:
        return total
    return f"{total} ({', '.join(f'{reason} {count:,}' for reason, count in reasons.items())})"


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
    parser.add_argument("--tcp", metavar="HOST:PORT",
                        help="listen on TCP as well (with --domain; HOST defaults to 127.0.0.1,"
                             " port 0 picks a free one); with stats, ask the relay there")
    parser.add_argument("--certfile", metavar="FILE",
                        help="TLS certificate (PEM): the relay's, or with stats the client's")
    parser.add_argument("--keyfile", metavar="FILE",
                        help="the private key of --certfile when not in it")
    parser.add_argument("--cafile", metavar="FILE",
                        help="certificate authorities (PEM) that sign the peer's certificate:"
                             " a relay then requires client certificates")
    parser.set_defaults(run=run)
