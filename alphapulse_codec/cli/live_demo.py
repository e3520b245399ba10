"""``alphapulse demo --relays``: the live system of the design on this machine. The four relays,
a market-data collector, a strategy, an execution engine, a recorder and a monitoring consumer
run as processes of their own for a few seconds; then each says what it saw, the expectations
are checked (everything sent arrives, no gaps, no drops on execution, the recording decodes),
and everything is stopped cleanly. With --config, each domain on the transport the file gives
it: the relays run for the domains on relays only."""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from ..capture.batch import decode_batch
from ..relay.client import relay_stats
from ..relay.policy import DOMAINS
from ..transport.config import TransportsConfig, load_config
from ..transport.shm import remove_ring
from ..wire.enums import MessageType
from ..wire.errors import ConfigError, RelayError
from .common import EXIT_BAD_ARGUMENTS, EXIT_BAD_INPUT, CommandError
from .relaying import Stopped
from ..transport.config import RELAYED

SECONDS = 3.0
LIVE_SECONDS = 60.0
START_TIMEOUT = 30.0     # upper bounds against a hang, on a loaded machine
STOP_TIMEOUT = 30.0
PRODUCERS = {"market_data": "market data producer", "signals": "signal producer",
             "orders": "order producer"}
# Ctrl-C, kill, timeout, a service manager: each stops the demo and everything it started
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PRODUCER_DOMAINS = {"market_data": "market_data", "signals": "signals", "orders": "execution"}


class Service:
    """One process of the demo, its output kept."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.out = ""
        self.err = ""

    def wait_line(self, expected: str, timeout: float, stream: str = "stdout") -> bool:
        """Read ``stream`` until a line starting with ``expected`` came (True) or the process
        ended; the lines before it are kept."""
        deadline = time.monotonic() + timeout
        lines = cast(IO[str], getattr(self.process, stream))
        kept = stream[3:]  # "out" or "err"
        while time.monotonic() < deadline:
            line = lines.readline()
            if not line:
                return False
            if line.startswith(expected):
                return True
            setattr(self, kept, getattr(self, kept) + line)
        return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.finish()

    def finish(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            try:
                out, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:  # its own children hold its pipes open
                out, err = "", "(its output was held open by processes it left)"
                self.process.wait()
        self.out += out or ""
        self.err += err or ""
        return self.process.returncode

    def report(self) -> dict[str, Any]:
        for line in reversed(self.out.splitlines()):
            if line.startswith("{"):
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        return {}


def _not_started(what: str, service: Service) -> CommandError:
    """A service that ended (or never said it was ready) while starting, in one line: the
    last line of its stderr, where its error is (a ring of another size left by an earlier
    run, a socket in use)."""
    code = service.stop()  # a SIGTERM to one still running, then its output read
    said = [line for line in service.err.splitlines() if line.strip()]
    return CommandError(f"{what} did not start (exit {code}): "
                        f"{said[-1].strip() if said else 'it said nothing'}", EXIT_BAD_INPUT)


def _python(*arguments: str) -> list[str]:
    return [sys.executable, "-m", *arguments]


def _relay_domains(config: TransportsConfig | None) -> dict[str, Any]:
    """The domains on a relay, with the policy ``relay_stats`` reaches each by (None: the
    design's, in the runtime directory)."""
    if config is None:
        return {domain: None for domain in DOMAINS}
    return {domain: endpoint.policy for domain, endpoint in config.endpoints.items()
            if endpoint.transport in RELAYED}


def _wait_for_relays(relayed: dict[str, Any], runtime_dir: Path, relays: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for domain, policy in relayed.items():
        while True:
            try:  # a monitor's hello: the relay is serving
                relay_stats(domain, config=policy, runtime_dir=runtime_dir, timeout=1.0)
                break
            except (RelayError, OSError):
                if relays.process.poll() is not None or time.monotonic() > deadline:
                    raise _not_started("the relays", relays) from None
                time.sleep(0.05)


def _rings(config: TransportsConfig | None) -> list[Path]:
    if config is None:
        return []
    return [Path(endpoint.options["path"]) for endpoint in config.endpoints.values()
            if endpoint.transport == "shared_memory"]


def _transports(options: argparse.Namespace, runtime_dir: Path) -> TransportsConfig | None:
    """--config read and checked for a demo of processes; None without it (the relays)."""
    if not options.config:
        return None
    if options.live:
        raise CommandError("--live watches the relays with alphapulse top: give --config with"
                           " --relays", EXIT_BAD_ARGUMENTS)
    try:
        config = load_config(options.config, runtime_dir=runtime_dir)
    except ConfigError as error:
        raise CommandError(str(error), EXIT_BAD_ARGUMENTS) from None
    for domain, endpoint in config.endpoints.items():
        if endpoint.transport == "channel":
            raise CommandError(f"{options.config}: {domain} is on channel, which carries frames"
                               " within one process; the demo's services are processes of"
                               " their own", EXIT_BAD_ARGUMENTS)
    return config


def run(options: argparse.Namespace) -> int:
    console = Console(highlight=False)
    before = {number: signal.signal(number, _stop) for number in STOP_SIGNALS}
    services: list[Service] = []
    new_rings: list[Path] = []  # the ring files its services create, to remove at the end
    runtime_dir: Path | None = None
    try:
        runtime_dir = Path(tempfile.mkdtemp(prefix="alphapulse-demo-", dir="/tmp"))
        return _run(options, console, runtime_dir, recording=runtime_dir / "market_data.bin",
                    services=services, new_rings=new_rings)
    except Stopped as stopped:
        stopped_by = signal.Signals(stopped.args[0])
    finally:
        # a second signal (timeout sends its SIGTERM to the demo, then to its process group)
        # must not cut the stopping short
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        for service in services:
            if service.process.poll() is None:
                # a SIGTERM: the relays' supervisor stops its relays, where a SIGKILL would
                # leave them running, holding its pipes open
                service.stop()
        if runtime_dir is not None:
            shutil.rmtree(runtime_dir, ignore_errors=True)
        for ring in new_rings:
            if ring.exists():
                remove_ring(ring)
                console.print(f"removed the ring {ring} the demo created", soft_wrap=True)
        for number, handler in before.items():
            signal.signal(number, handler)
    print(f"alphapulse: demo stopped by {stopped_by.name}: the processes it started stopped,"
          f" {runtime_dir or 'its runtime directory'} removed", file=sys.stderr)
    return 128 + stopped_by


def _stop(number: int, _: object) -> None:
    raise Stopped(number)


def _run(options: argparse.Namespace, console: Console, runtime_dir: Path, recording: Path,
         services: list[Service], new_rings: list[Path]) -> int:
    seconds = options.seconds or (LIVE_SECONDS if options.live else SECONDS)
    config = _transports(options, runtime_dir)
    # a ring file there before the demo is someone else's (or an earlier run's): it stays
    new_rings += [ring for ring in _rings(config) if not ring.exists()]
    configured = ["--config", options.config] if options.config else []
    relayed = _relay_domains(config)
    relays = None  # a file may put every domain elsewhere: no relay to run then
    if relayed:
        relays = Service("relays", _python("alphapulse_codec", "relay", "--runtime-dir",
                                           str(runtime_dir), *configured))
        services.append(relays)
        _wait_for_relays(relayed, runtime_dir, relays)
    if config is None:
        console.print(f"relays: market_data, signals, execution, system in {runtime_dir}")
    else:
        console.print("domains: " + ", ".join(f"{domain} on {endpoint.transport}" for
                                              domain, endpoint in config.endpoints.items()))
    given = [options.config] if options.config else []  # the services' last argument
    monitor = Service("consumer", _python("alphapulse_codec.samples.live", "consumer",
                                          str(runtime_dir), "0", *given))
    recorder = Service("recorder", _python("alphapulse_codec", "record", "--domain",
                                           "market_data", "--runtime-dir", str(runtime_dir),
                                           *configured, "-o", str(recording)))
    services += [monitor, recorder]
    if not monitor.wait_line("ready", START_TIMEOUT):
        raise _not_started("the consumer", monitor)
    if not recorder.wait_line("recording", START_TIMEOUT, stream="stderr"):
        raise _not_started("the recorder", recorder)
    producers = {role: Service(PRODUCERS[role], _python(
        "alphapulse_codec.samples.live", role, str(runtime_dir), str(seconds), *given))
        for role in PRODUCERS}
    services += list(producers.values())
    console.print(f"running: {', '.join(PRODUCERS.values())}, recorder and consumer for"
                  f" {seconds:g} s")
    if options.live:
        top = subprocess.run(_python("alphapulse_codec", "top", "--runtime-dir",
                                     str(runtime_dir)), check=False)
        if top.returncode:
            console.print(f"[red]alphapulse top exited with {top.returncode}[/]")
        for producer in producers.values():
            if producer.process.poll() is None:
                producer.process.send_signal(signal.SIGTERM)
    # the producers end on their own once their seconds are over: a wait of STOP_TIMEOUT alone
    # killed those of a run longer than that
    codes = {service.name: service.finish(seconds + STOP_TIMEOUT)
             for service in producers.values()}
    codes["consumer"] = monitor.stop()
    codes["recorder"] = recorder.stop()
    if relays is not None:
        codes["relays"] = relays.stop()
    return _summary(console, producers, monitor, recorder, recording, codes, relayed)


def _summary(console: Console, producers: dict[str, Service], monitor: Service,
             recorder: Service, recording: Path, codes: dict[str, int],
             relayed: dict[str, Any]) -> int:
    failures = [f"{name} exited with {code}" for name, code in codes.items() if code]
    seen = monitor.report()
    table = Table("process", "domain", "frames", "per message type", box=None,
                  header_style="bold")
    for role, producer in producers.items():
        report = producer.report()
        domain = PRODUCER_DOMAINS[role]
        sent = report.get("counts", {})
        table.add_row(producer.name, domain, f"{sum(sent.values()):,} sent",
                      _counts_text(sent) + f"; refused: {report.get('refused', '?')}")
        got = seen.get("counts", {}).get(domain, {})
        if sent != got:
            failures.append(f"{domain}: sent {_counts_text(sent)}, the consumer received"
                            f" {_counts_text(got)}")
        if report.get("refused"):
            failures.append(f"{producer.name}: {report['refused']} frames refused")
    for domain, got in seen.get("counts", {}).items():
        table.add_row("consumer", domain, f"{sum(got.values()):,} received", _counts_text(got))
    recorded = Counter[str]()
    if recording.exists():
        result = decode_batch(recording.read_bytes())
        recorded.update({MessageType(t).name: len(result[t]) for t in result.types})
        if result.errors:
            failures.append(f"the recording has {len(result.errors)} bad stretches")
    table.add_row("recorder", "market_data", f"{sum(recorded.values()):,} recorded",
                  _counts_text(dict(recorded)) + " (the capture, decoded back)")
    if dict(recorded) != seen.get("counts", {}).get("market_data"):
        failures.append("the recording differs from what the consumer received")
    console.print(table)
    gaps = {domain: found for domain, found in seen.get("gaps", {}).items() if found}
    dropped = seen.get("dropped", {})
    console.print(f"gaps: {'none' if not gaps else gaps}")
    execution = dropped.get("execution", "not on a relay: its consumer's gaps tell")
    console.print(f"drops by the relays: {'none' if not any(dropped.values()) else dropped}"
                  f" (execution: {execution})")
    if gaps:
        failures.append(f"gaps: {gaps}")
    # off the relays, what a consumer lost is in its gaps, checked above
    if "execution" in relayed and dropped.get("execution", 1):
        failures.append(f"execution dropped {dropped.get('execution', 'an unknown number of')}"
                        " frames")
    if failures:
        for failure in failures:
            console.print(f"[bold red]FAILED[/]: {failure}")
        return 1
    console.print("every frame sent arrived, no gaps, no drops on execution; every process"
                  " stopped cleanly")
    return 0


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items())) or "nothing"
