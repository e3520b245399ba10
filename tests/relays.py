"""Relays in their own processes for the tests: started as the command line starts them,
ready once their socket accepts a connection, always stopped. A relay started with
``--tcp`` options tells the TCP address it bound in the line it prints when it starts."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0   # upper bounds only: a loaded machine may be slow, never a pass/fail
STOP_TIMEOUT = 30.0


def connectable(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


# a relay with a policy of the test's own (a small circuit breaker, a short stuck timeout),
# and the command's TCP options
_WITH_POLICY = """
import dataclasses, json, sys
from alphapulse_codec.cli.relay import serve
from alphapulse_codec.relay import default_policy
from alphapulse_codec.relay.tcp import parse_address
domain, runtime_dir, changes, options = json.loads(sys.argv[1])
named = dict(zip(options[::2], options[1::2]))
serve(dataclasses.replace(default_policy(domain, runtime_dir), **changes),
      tcp=parse_address(named["--tcp"]) if "--tcp" in named else None,
      certfile=named.get("--certfile"), keyfile=named.get("--keyfile"),
      cafile=named.get("--cafile"))
"""


_SERVING_TCP = re.compile(r"serving \S+ and (tcp|tls)://\[?([^\]\s]+?)\]?:(\d+) ")


class RelayProcess:
    """``alphapulse relay --domain D --runtime-dir DIR`` as a child process; with
    ``changes``, a relay whose policy differs from the domain's default in those fields; with
    ``options``, more options of the command (``--tcp``, ``--certfile``...)."""

    def __init__(self, domain: str, runtime_dir: Path, options: tuple[str, ...] = (),
                 **changes: object) -> None:
        self.domain = domain
        self.runtime_dir = runtime_dir
        self.path = runtime_dir / f"{domain}.sock"
        self.options = tuple(options)
        self.address: tuple[str, int] | None = None  # of the TCP listener, once ready
        if changes:
            command = [sys.executable, "-c", _WITH_POLICY,
                       json.dumps([domain, str(runtime_dir), changes, list(self.options)])]
        else:
            command = [sys.executable, "-m", "alphapulse_codec", "relay", "--domain", domain,
                       "--runtime-dir", str(runtime_dir), *self.options]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.stdout = ""
        self.stderr = ""

    def wait_ready(self) -> RelayProcess:
        deadline = time.monotonic() + START_TIMEOUT
        while not connectable(self.path):
            if self.process.poll() is not None:
                self.finish()
                raise RuntimeError(f"the {self.domain} relay exited with {self.process.returncode}:"
                                   f" {self.stderr}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the {self.domain} relay did not listen within {START_TIMEOUT} s")
            time.sleep(0.02)
        if "--tcp" in self.options:
            self.address = self._tcp_address(deadline)
        return self

    def _tcp_address(self, deadline: float) -> tuple[str, int]:
        """The address in the relay's first line, written once both listeners are bound."""
        stream = self.process.stderr
        assert stream is not None
        while True:
            ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
            line = stream.readline() if ready else ""
            self.stderr += line
            found = _SERVING_TCP.search(line)
            if found:
                return (found.group(2), int(found.group(3)))
            if not line:
                self.kill()
                raise RuntimeError(f"the {self.domain} relay did not say its TCP address:"
                                   f" {self.stderr}")

    def terminate(self) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.finish()

    def finish(self) -> int:
        try:
            out, err = self.process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        self.stdout += out or ""
        self.stderr += err or ""
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.finish()


def start(domain: str, runtime_dir: Path, options: tuple[str, ...] = (),
          **changes: object) -> RelayProcess:
    return RelayProcess(domain, runtime_dir, options, **changes).wait_ready()
