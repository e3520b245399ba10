from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from relays import RelayProcess, start

DATA = Path(__file__).parent / "data"

# Many tests start the package in a child process. Where the environment turns
# the bytecode cache off (PYTHONDONTWRITEBYTECODE), each child compiled every module again,
# about 0.25 s a start; the children share one cache in build/ instead, which git ignores
# and Python checks against each source's time stamp and size.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX",
                      str(Path(__file__).resolve().parent.parent / "build" / "pycache"))

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def vector_bytes() -> bytes:
    return (DATA / "peer-v1.bin").read_bytes()


@pytest.fixture(scope="session")
def vector_objects() -> list[dict]:
    return [json.loads(line) for line in (DATA / "peer-v1.jsonl").read_text().splitlines() if line]


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A runtime dir for relays' sockets, short: a Unix socket path holds at most 107 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="ap-relay-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def relays(runtime_dir: Path) -> Iterator[Callable[..., RelayProcess]]:
    """Starts relays in runtime_dir (``relays("execution", stuck_timeout=1.0)``); kills them
    all at the end."""
    started: list[RelayProcess] = []

    def run(domain: str, options: tuple[str, ...] = (), **changes: object) -> RelayProcess:
        started.append(start(domain, runtime_dir, options, **changes))
        return started[-1]

    yield run
    for relay in started:
        relay.kill()
