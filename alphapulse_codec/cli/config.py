"""``alphapulse config check``: what each domain's transport (or the dashboard) would run
with, read from the configuration file, or the first thing wrong in it."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from ..relay.config import Subscription, dashboard_from
from ..relay.yamlfile import read_yaml
from ..transport.config import RELAYED, TransportsConfig, config_from_document
from ..wire.enums import MessageType
from ..wire.errors import ConfigError
from .common import EXIT_BAD_ARGUMENTS, EXIT_OK, CommandError, command

CHECK = """\
Read a transport and relay configuration (alphapulse: transport: unix_socket | mixed |
message_bus | ..., and per domain its transport and options, path, max_queue_size,
circuit_breaker, validate_checksums, require_sequence, overflow, stuck_timeout, busy_poll_us: see
docs/transports.md) or a dashboard configuration (dashboard: subscriptions: ...) and print,
per domain, what it will use: its transport and where its frames go (socket path, ring path
and size, servers and subjects, stream, host:port), defaults filled in. A file with anything
wrong is refused with the file, line and key at fault, and exit 2."""

CHECK_EXAMPLES = """\
  alphapulse config check examples/relays.yml
  alphapulse config check examples/transports.yml
  alphapulse config check examples/dashboard_config.yml
  alphapulse config check relays.yml --runtime-dir /run/user/1000/alphapulse
"""


def check(options: argparse.Namespace) -> int:
    try:
        document = read_yaml(options.file)
        if isinstance(document, Mapping) and "dashboard" in document:
            _print_dashboard(dashboard_from(document, options.file,
                                            runtime_dir=options.runtime_dir))
        else:
            _print_transports(config_from_document(document, options.file,
                                                   runtime_dir=options.runtime_dir))
    except ConfigError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    return EXIT_OK


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _on(flag: bool) -> str:
    return "yes" if flag else "no"


def _print_transports(config: TransportsConfig) -> None:
    console = _console()
    relays = config.relays
    console.print(f"runtime directory: {relays.runtime_dir}")
    console.print("sockets: " + (f"mode 0660, group {relays.socket_group}" if relays.socket_group
                                 else "mode 0600, this user only"))
    table = Table("domain", "transport", "where", "max_queue_size", "circuit_breaker",
                  "checksums", "sequence", "overflow", "waiting", box=None, header_style="bold")
    for endpoint in config.endpoints.values():
        policy = endpoint.policy
        overflow = policy.overflow if policy.overflow == "shed" else \
            f"block, stuck after {policy.stuck_timeout:g} s"
        table.add_row(policy.domain, endpoint.transport, endpoint.where(),
                      f"{policy.max_queue_size:,}", f"{policy.circuit_breaker:,}",
                      _on(policy.validate_checksums), _on(policy.require_sequence), overflow,
                      _waiting(endpoint.transport, policy.busy_poll_us))
    console.print(table)


def _waiting(transport: str, busy_poll_us: int) -> str:
    """How a domain's relay waits for bytes: busy_poll_us acts on relayed transports only."""
    if transport not in RELAYED:
        return "-"
    return f"polls {busy_poll_us:,} us" if busy_poll_us else "sleeps"


def _print_dashboard(subscriptions: tuple[Subscription, ...]) -> None:
    table = Table("domain", "socket", "message types", box=None, header_style="bold")
    for subscription in subscriptions:
        types = "every type" if subscription.message_types is None else \
            ", ".join(MessageType(t).name for t in subscription.message_types)
        table.add_row(subscription.domain, str(subscription.path), types)
    _console().print(table)


def add_commands(commands: Any) -> None:
    group = command(commands, "config", "check a transport, relay or dashboard configuration",
                    "The configuration files of the transports, the relays and the dashboard:"
                    " see docs/transports.md and docs/relays.md.", CHECK_EXAMPLES)
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION",
                                   help="alphapulse config ACTION --help tells more")
    parser = command(actions, "check", "print what a configuration file sets, or what is"
                     " wrong in it", CHECK, CHECK_EXAMPLES)
    parser.add_argument("file", metavar="FILE", help="a transport, relay or dashboard YAML configuration")
    parser.add_argument("--runtime-dir", metavar="DIR", default=None,
                        help="the relays' runtime directory, over the file's runtime_dir")
    parser.set_defaults(run=check)
