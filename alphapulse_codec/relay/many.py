"""One consumer over several relays at once, as the design's dashboard reads them.

    with subscribe_many("dashboard_config.yml") as relays:
        for domain, message in relays:
            ...

A relay that is down, at the start or later, is shown as such in ``status`` and tried again
with backoff, for as long as the consumer lives; its restart is noted in its ``gaps``.
"""
from __future__ import annotations

import os
import selectors
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from ..capture.batch import BatchResult, decode_batch
from ..wire._codec import decode
from ..wire.errors import FieldValueError, RelayError, RelayRefusedError, RelayTimeoutError
from ._route import pending_frame_size
from .backoff import Backoff, log
from .client import Consumer, Gap, connect
from .tcp import buffered
from .config import Subscription, load_dashboard_config
from .policy import DOMAINS, DomainPolicy, default_policy
from .runtime_dir import runtime_dir_of

# a dashboard never gives up on a relay: it shows it down and knocks again
DASHBOARD_BACKOFF = Backoff(first=0.1, longest=2.0, give_up_after=None)
ATTEMPT_TIMEOUT = 2.0


def subscriptions_of(config: Any, runtime_dir: str | os.PathLike[str] | None = None
                     ) -> tuple[Subscription, ...]:
    """The relays to read: a dashboard config (a YAML file's path or a mapping, see
    load_dashboard_config), Subscriptions, pairs of (domain, types) with types None for
    every type, or None for every relay of the runtime directory."""
    directory = runtime_dir_of(runtime_dir)
    if config is None:
        return tuple(Subscription(d, directory / f"{d}.sock", None) for d in DOMAINS)
    if isinstance(config, (str, os.PathLike, Mapping)):
        return load_dashboard_config(config, runtime_dir=runtime_dir)
    if not isinstance(config, Iterable) or isinstance(config, (bytes, bytearray)):
        raise FieldValueError(f"config: expected a dashboard file's path, its mapping,"
                              f" Subscriptions or (domain, types) pairs, got"
                              f" {type(config).__name__}", field="config")
    chosen: list[Subscription] = []
    for item in config:
        if isinstance(item, Subscription):
            chosen.append(item)
            continue
        if not isinstance(item, tuple) or len(item) != 2 or item[0] not in DOMAINS:
            raise FieldValueError(f"config: expected (domain, types) pairs with a domain of"
                                  f" {', '.join(DOMAINS)}, got {item!r}", field="config")
        domain, types = item
        chosen.append(Subscription(domain, directory / f"{domain}.sock",
                                   None if types is None else tuple(types)))
    if not chosen:
        raise FieldValueError("config: no relay to subscribe to", field="config")
    if len({s.domain for s in chosen}) != len(chosen):
        raise FieldValueError("config: a relay is named twice", field="config")
    return tuple(chosen)


def policy_of(subscription: Subscription) -> DomainPolicy:
    """The domain's policy with the subscription's socket path."""
    return replace(default_policy(subscription.domain, subscription.path.parent),
                   path=subscription.path)


def split_frames(data: bytes) -> Iterator[memoryview]:
    """The whole frames of ``data``, one view each."""
    view = memoryview(data)
    at = 0
    while at < len(view):
        size = pending_frame_size(view[at:], len(view) - at)
        yield view[at:at + size]
        at += size


@dataclass
class _Relay:
    subscription: Subscription
    consumer: Consumer | None = None
    up: bool = False
    problem: str = "not connected yet"
    next_attempt: float = 0.0
    delays: Iterator[float] | None = None


class MultiConsumer:
    """The consumer of several relays; ``status`` says which are up, ``gaps`` what each
    relay's stream missed."""

    def __init__(self, subscriptions: Iterable[Subscription], *, name: str = "",
                 backoff: Backoff = DASHBOARD_BACKOFF) -> None:
        self.name = name
        self.backoff = backoff
        self._relays = {s.domain: _Relay(s) for s in subscriptions}
        if not self._relays:  # nothing would ever come: a wait without end
            raise FieldValueError("subscriptions: no relay to subscribe to",
                                  field="subscriptions")
        self._selector = selectors.DefaultSelector()
        self._turn = 0
        self._ready: list[tuple[str, bytes]] = []

    @property
    def domains(self) -> list[str]:
        return list(self._relays)

    @property
    def status(self) -> dict[str, str]:
        """Per relay: "up", or "down: why"."""
        return {d: "up" if r.up else f"down: {r.problem}" for d, r in self._relays.items()}

    @property
    def gaps(self) -> dict[str, list[Gap]]:
        return {d: list(r.consumer.gaps) if r.consumer else [] for d, r in self._relays.items()}

    def subscription_policy(self, domain: str) -> DomainPolicy:
        """The policy the relay of ``domain`` is reached with (its socket path)."""
        return policy_of(self._relays[domain].subscription)

    def consumer(self, domain: str) -> Consumer | None:
        return self._relays[domain].consumer

    # ---- connections -----------------------------------------------------------------

    def _attempt(self, relay: _Relay) -> None:
        subscription = relay.subscription
        try:
            if relay.consumer is None:
                relay.consumer = cast(Consumer, connect(
                    subscription.domain, "consumer", types=subscription.message_types,
                    name=self.name, config=policy_of(subscription), timeout=ATTEMPT_TIMEOUT,
                    reconnect=self.backoff, address=subscription.address, tls=subscription.tls))
            else:
                relay.consumer.reopen()
        except RelayRefusedError:
            raise
        except (RelayError, OSError) as error:
            relay.problem = str(error)
            if relay.delays is None:
                relay.delays = self.backoff.delays()
                log.warning("%s relay at %s: %s; trying again", subscription.domain,
                            subscription.where, _unplaced(str(error), subscription.where))
            relay.next_attempt = time.monotonic() + next(relay.delays)
            return
        if relay.delays is not None:
            log.warning("%s relay at %s: connected", subscription.domain, subscription.where)
        relay.up, relay.problem, relay.delays = True, "", None
        self._selector.register(relay.consumer.fileno(), selectors.EVENT_READ, relay)

    def _down(self, relay: _Relay) -> None:
        if relay.consumer is None:
            return
        self._selector.unregister(relay.consumer.fileno())
        why = relay.consumer._closed_by_relay()
        relay.consumer._sock.close()
        relay.up, relay.problem = False, why
        relay.delays = self.backoff.delays()
        relay.next_attempt = time.monotonic() + next(relay.delays)
        log.warning("%s relay at %s: %s; trying again", relay.subscription.domain,
                    relay.subscription.where, _unplaced(why, relay.subscription.where))

    # ---- receiving -------------------------------------------------------------------

    def _collect(self, max_frames: int) -> list[tuple[str, bytes]]:
        """Whole frames already received, per relay, taking turns."""
        names = list(self._relays)
        out = []
        for step in range(len(names)):
            relay = self._relays[names[(self._turn + step) % len(names)]]
            if relay.up and relay.consumer is not None:
                data = relay.consumer._taken(max_frames)
                if data:
                    out.append((relay.subscription.domain, data))
                elif relay.consumer._eof:
                    self._down(relay)
        self._turn += 1
        return out

    def _wait(self, max_frames: int, timeout: float | None) -> list[tuple[str, bytes]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            for relay in self._relays.values():
                if not relay.up and relay.next_attempt <= now:
                    self._attempt(relay)
            found = self._collect(max_frames)
            if found:
                return found
            waits = [r.next_attempt - time.monotonic() for r in self._relays.values() if not r.up]
            if deadline is not None:
                waits.append(deadline - time.monotonic())
                if waits[-1] <= 0:
                    return []
            wait = max(0.0, min(waits)) if waits else None
            if not self._selector.get_map():
                time.sleep(wait if wait is not None else 0.1)
                continue
            # bytes TLS decrypted already do not make a descriptor readable: take them first
            held = [r.consumer for r in self._relays.values()
                    if r.up and r.consumer is not None and buffered(r.consumer._sock)]
            for consumer in held:
                consumer._drain_socket()
            if held:
                continue
            for key, _ in self._selector.select(wait):
                relay = key.data
                if relay.consumer is not None:
                    relay.consumer._drain_socket()

    def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None
                   ) -> list[tuple[str, bytes]]:
        """Per relay with frames: (domain, its whole frames back to back), at most
        ``max_frames`` each; empty when none came within ``timeout``."""
        return self._wait(max_frames, timeout)

    def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                   verify: bool = True) -> list[tuple[str, BatchResult]]:
        """Per relay with frames: (domain, its frames decoded into arrays per type)."""
        return [(domain, decode_batch(data, verify=verify))
                for domain, data in self._wait(max_frames, timeout)]

    def recv(self, timeout: float | None = None) -> tuple[str, Any]:
        """The next (domain, message) of any relay, waiting up to ``timeout`` seconds."""
        if not self._ready:
            self._ready = [(domain, bytes(frame)) for domain, data in self._wait(1024, timeout)
                           for frame in split_frames(data)]
            self._ready.reverse()
        if not self._ready:
            raise RelayTimeoutError(f"no frame from {', '.join(self._relays)} within"
                                    f" {timeout:g} s")
        domain, frame = self._ready.pop()
        return domain, decode(frame)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while True:
            yield self.recv()

    def close(self) -> None:
        for relay in self._relays.values():
            if relay.consumer is not None:
                relay.consumer.close()
        self._selector.close()

    def __enter__(self) -> MultiConsumer:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def subscribe_many(config: Any = None, *, runtime_dir: str | os.PathLike[str] | None = None,
                   name: str = "", backoff: Backoff = DASHBOARD_BACKOFF) -> MultiConsumer:
    """A consumer of several relays: ``config`` is a dashboard config (``dashboard_config.yml``
    or its mapping), Subscriptions, (domain, types) pairs, or None for every relay of the
    runtime directory. Relays that are down are tried again with ``backoff``."""
    return MultiConsumer(subscriptions_of(config, runtime_dir), name=name, backoff=backoff)


def _unplaced(problem: str, where: str) -> str:
    """`problem` without the address it may begin with: the warning names it once already."""
    return problem.removeprefix(f"{where}: ")
