"""What each domain relay accepts and how it treats slow consumers: one frozen policy per relay.

``DOMAINS`` holds the message type ranges of the design; ``default_policy`` the design's
values. The YAML configuration builds ``DomainPolicy`` objects with these same names.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..wire.enums import DOMAIN_RANGES, RELAY_DOMAINS
from ..wire.errors import FieldValueError

Overflow = Literal["shed", "block"]

# relay name (its socket's name, its config key, its --domain) -> the message types it carries;
# run-time schema types 200-255 join the domain their schema names
DOMAINS: dict[str, range] = {name: range(DOMAIN_RANGES[number][0], DOMAIN_RANGES[number][1] + 1)
                             for name, number in RELAY_DOMAINS.items()}

MAX_BUSY_POLL_US = 1_000_000  # a second: past that, sleeping costs nothing worth a core

SOCKET_NAMES = {domain: f"{domain}.sock" for domain in DOMAINS}


@dataclass(frozen=True)
class DomainPolicy:
    """The rules of one relay.

    ``max_queue_size`` bounds a consumer's queue in frames; ``circuit_breaker`` is where the
    overflow policy acts: ``shed`` drops the consumer's oldest queued frames (and tells it with
    a GapNotice), ``block`` stops reading producers until the consumer drains, and disconnects
    a consumer that has not taken a byte for ``stuck_timeout`` seconds while full.

    ``busy_poll_us`` trades a core for latency: the relay looks at its sockets without
    sleeping for that many microseconds after anything last happened on them, and a blocking
    consumer given this policy polls its socket that long before it waits in the kernel, so
    that a frame that follows soon finds them awake rather than waiting for the scheduler to
    wake them; 0 (the default) sleeps at once.
    """

    domain: str
    path: Path
    max_queue_size: int
    circuit_breaker: int
    validate_checksums: bool
    require_sequence: bool
    overflow: Overflow
    stuck_timeout: float
    socket_mode: int = 0o600
    socket_group: str | None = None
    busy_poll_us: int = 0

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise FieldValueError(f"domain: {self.domain!r} is not one of {', '.join(DOMAINS)}")
        object.__setattr__(self, "path", Path(self.path))
        for name in ("max_queue_size", "circuit_breaker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FieldValueError(f"{self.domain}.{name}: expected a positive integer,"
                                      f" got {value!r}")
        if self.circuit_breaker > self.max_queue_size:
            raise FieldValueError(f"{self.domain}.circuit_breaker: {self.circuit_breaker} is over"
                                  f" max_queue_size {self.max_queue_size}")
        for name in ("validate_checksums", "require_sequence"):
            if not isinstance(getattr(self, name), bool):
                raise FieldValueError(f"{self.domain}.{name}: expected true or false,"
                                      f" got {getattr(self, name)!r}")
        if self.overflow not in ("shed", "block"):
            raise FieldValueError(f"{self.domain}.overflow: expected 'shed' or 'block',"
                                  f" got {self.overflow!r}")
        if isinstance(self.stuck_timeout, bool) or not isinstance(self.stuck_timeout, (int, float)) \
                or not 0 < self.stuck_timeout < 86400:
            raise FieldValueError(f"{self.domain}.stuck_timeout: expected seconds in (0, 86400),"
                                  f" got {self.stuck_timeout!r}")
        if isinstance(self.busy_poll_us, bool) or not isinstance(self.busy_poll_us, int) \
                or not 0 <= self.busy_poll_us <= MAX_BUSY_POLL_US:
            raise FieldValueError(f"{self.domain}.busy_poll_us: expected microseconds from 0 to"
                                  f" {MAX_BUSY_POLL_US:,}, got {self.busy_poll_us!r}")
        if isinstance(self.socket_mode, bool) or not isinstance(self.socket_mode, int) \
                or self.socket_mode & ~0o777 or not self.socket_mode & 0o600 == 0o600:
            raise FieldValueError(f"{self.domain}.socket_mode: expected permission bits that"
                                  f" include 0o600, got {self.socket_mode!r}")

    @property
    def types(self) -> range:
        return DOMAINS[self.domain]


def default_policy(domain: str, runtime_dir: str | Path) -> DomainPolicy:
    """The design's policy for a domain, its socket in ``runtime_dir``.

    System messages (heartbeats, errors, configuration, schema announcements) are few and each
    matters: the system relay validates checksums, sheds like signals rather than letting one
    stalled monitor hold every service's heartbeat, and keeps a queue of 10,000 / 8,000.
    """
    path = Path(runtime_dir) / SOCKET_NAMES[domain] if domain in SOCKET_NAMES else Path()
    if domain == "market_data":
        return DomainPolicy(domain, path, 1_000_000, 800_000, False, False, "shed", 5.0)
    if domain == "signals":
        return DomainPolicy(domain, path, 100_000, 80_000, True, False, "shed", 5.0)
    if domain == "execution":
        return DomainPolicy(domain, path, 10_000, 8_000, True, True, "block", 5.0)
    if domain == "system":
        return DomainPolicy(domain, path, 10_000, 8_000, True, False, "shed", 5.0)
    raise FieldValueError(f"domain: {domain!r} is not one of {', '.join(DOMAINS)}")

