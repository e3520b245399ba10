"""What each domain relay accepts and how it treats slow consumers: one policy per domain,
with the design's values as defaults."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..wire.enums import DOMAIN_RANGES, Domain

# relay name (its socket's name, its config key, its --domain) -> the message types it carries
DOMAINS: dict[str, range] = {
    name: range(DOMAIN_RANGES[domain][0], DOMAIN_RANGES[domain][1] + 1)
    for name, domain in (("market_data", Domain.MarketData), ("signals", Domain.Signal),
                         ("execution", Domain.Execution), ("system", Domain.System))
}


@dataclass(frozen=True)
class DomainPolicy:
    """How one domain's relay runs.

    ``max_queue_size`` and ``circuit_breaker`` count frames queued for one consumer: past
    ``circuit_breaker`` a consumer is shed (``overflow="shed"``: its oldest frames are dropped
    and it gets a gap notice) or its producers wait (``overflow="block"``), and a consumer
    that has not read for ``stuck_timeout`` seconds while producers wait is disconnected.
    The socket is created with ``socket_mode``, in ``socket_group`` when one is granted.
    """

    domain: str
    path: Path
    max_queue_size: int
    circuit_breaker: int
    validate_checksums: bool
    require_sequence: bool
    overflow: Literal["shed", "block"]
    stuck_timeout: float
    socket_mode: int = 0o600
    socket_group: str | None = None


# the design's RelayConfig of each relay; the system relay, which the design leaves out, is
# sized like execution but sheds: heartbeats and stats are worth less than a blocked producer
_DEFAULTS: dict[str, tuple[int, int, bool, bool, Literal["shed", "block"], float]] = {
    "market_data": (1_000_000, 800_000, False, False, "shed", 5.0),
    "signals": (100_000, 80_000, True, False, "shed", 5.0),
    "execution": (10_000, 8_000, True, True, "block", 5.0),
    "system": (10_000, 8_000, True, False, "shed", 5.0),
}


def default_policy(domain: str, runtime_dir: Path) -> DomainPolicy:
    """The design's policy of `domain`, its socket ``<runtime_dir>/<domain>.sock``."""
    max_queue_size, circuit_breaker, checksums, sequence, overflow, stuck = _DEFAULTS[domain]
    return DomainPolicy(domain=domain, path=Path(runtime_dir) / f"{domain}.sock",
                        max_queue_size=max_queue_size, circuit_breaker=circuit_breaker,
                        validate_checksums=checksums, require_sequence=sequence,
                        overflow=overflow, stuck_timeout=stuck)
