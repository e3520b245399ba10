"""The services of the live demo, each run as its own process by ``alphapulse demo --relays``:
a market-data collector, a strategy, an execution engine and a monitoring consumer, talking
through the relays, or through whatever transport each domain has in CONFIG (a file of
docs/transports.md's shapes): the services' code is the same on every one. Each prints one
JSON line of what it did when it ends.

    python -m alphapulse_codec.samples.live ROLE RUNTIME_DIR SECONDS [CONFIG]

Producers send for SECONDS (or until SIGTERM); the consumer says ``ready`` once subscribed,
then counts until SIGTERM and takes what is still in flight.
"""
from __future__ import annotations

import json
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from ..relay import Backoff, Producer
from ..relay.client import relay_stats
from ..relay.many import split_frames
from ..relay.policy import DOMAINS
from ..transport.config import RELAYED
from ..transport.select import connect, endpoint_of
from ..wire.enums import GapReason, MessageType, SourceType
from .session import PRICE_SCALE, Clock, Market, _instruments, build_session, order_flow

MARKET_DATA_RATE = 20_000    # frames per second, sent in bursts of BURST
BURST = 200
SIGNAL_INTERVAL = 0.02       # seconds between two signals
ORDER_INTERVAL = 0.05        # seconds between two orders' flows
DRAIN_QUIET = 0.5            # the consumer stops once nothing came for this long
POLL = 0.01                  # the consumer's wait on each domain in turn
RECONNECT = Backoff(give_up_after=30.0)

stopping = False


def _stop(*_: Any) -> None:
    global stopping
    stopping = True


def _on_relay(domain: str, runtime_dir: Path, config: str | None) -> bool:
    endpoint = endpoint_of(domain, config, runtime_dir)
    return endpoint is None or endpoint.transport in RELAYED


def _connect(domain: str, role: Literal["producer", "consumer"], runtime_dir: Path,
             config: str | None, **keywords: Any) -> Any:
    """The client of ``domain`` on its transport; a relay's reconnects when the relay
    restarts (the other transports have no relay to lose, or reconnect by themselves)."""
    if _on_relay(domain, runtime_dir, config):
        keywords["reconnect"] = RECONNECT
    return connect(domain, role, config=config, runtime_dir=runtime_dir, **keywords)


def _finish(producer: Any) -> list[Any]:
    """The producer closed once everything it sent is judged; the frames refused."""
    if isinstance(producer, Producer):
        return producer.finish()  # the relay's answers to the very last frames too
    refused = list(producer.flush())
    producer.close()
    return refused


def _types(frames: list[bytes], domain: str) -> list[bytes]:
    return [frame for frame in frames if frame[4] in DOMAINS[domain]]


def _report(role: str, counts: Counter[int], **extra: Any) -> None:
    print(json.dumps({"role": role, "counts": {MessageType(t).name: n for t, n in counts.items()},
                      **extra}), flush=True)


def _paced(producer: Any, role: str, frames: list[bytes], interval: float,
           seconds: float, per_send: int) -> None:
    """Send ``frames`` in order, ``per_send`` at a time every ``interval`` seconds, for
    ``seconds``; the last frames' answers are collected before the report."""
    counts: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    next_send = time.monotonic()
    at = 0
    while not stopping and time.monotonic() < deadline and at < len(frames):
        chunk = frames[at:at + per_send]
        at += len(chunk)
        producer.send_batch(b"".join(chunk))
        counts.update(frame[4] for frame in chunk)
        next_send += interval
        time.sleep(max(0.0, next_send - time.monotonic()))
    refused = _finish(producer)
    _report(role, counts, refused=len(refused), reconnects=getattr(producer, "reconnects", 0))


def market_data(runtime_dir: Path, seconds: float, config: str | None) -> None:
    """The sample session's instruments, trades, quotes and book, at MARKET_DATA_RATE."""
    wanted = int(MARKET_DATA_RATE * seconds) + 50
    frames = _types(build_session(wanted), "market_data")
    producer = _connect("market_data", "producer", runtime_dir, config,
                        source=SourceType.PolygonCollector, name="market-data collector")
    _paced(producer, "market data producer", frames, BURST / MARKET_DATA_RATE, seconds, BURST)


def signals(runtime_dir: Path, seconds: float, config: str | None) -> None:
    """The session's strategy signals, over and over, numbered by the producer."""
    one_round = _types(build_session(60), "signals")
    rounds = int(seconds / SIGNAL_INTERVAL / len(one_round)) + 1
    producer = _connect("signals", "producer", runtime_dir, config,
                        source=SourceType.ArbitrageStrategy, sequence="auto", name="strategy")
    _paced(producer, "signal producer", one_round * rounds, SIGNAL_INTERVAL, seconds, 1)


def orders(runtime_dir: Path, seconds: float, config: str | None) -> None:
    """Orders of an execution engine: each one's request, acknowledgement, fills and
    reports, with sequences numbered per source by the producer."""
    clock = Clock()
    rng = random.Random(11)
    market = Market(_instruments()["AAPL"], 189 * PRICE_SCALE, SourceType.AlpacaCollector)
    flows = []
    for number in range(int(seconds / ORDER_INTERVAL) + 1):
        market.price += rng.randint(-5, 5) * PRICE_SCALE // 100
        flows.append(b"".join(order_flow(clock, market, 1001 + 16 * number)))
    producer = _connect("execution", "producer", runtime_dir, config,
                        source=SourceType.ExecutionEngine, sequence="auto",
                        name="execution engine")
    counts: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    for flow in flows:
        if stopping or time.monotonic() >= deadline:
            break
        producer.send_batch(flow)
        counts.update(frame[4] for frame in split_frames(flow))
        time.sleep(ORDER_INTERVAL)
    refused = _finish(producer)
    _report("order producer", counts, refused=len(refused),
            reconnects=getattr(producer, "reconnects", 0))


def consumer(runtime_dir: Path, seconds: float, config: str | None) -> None:
    """Every domain at once, as a monitoring service: counts per domain and type, gaps, and
    the relays' drops at the end."""
    counts: dict[str, Counter[int]] = {domain: Counter() for domain in DOMAINS}
    consumers = {domain: _connect(domain, "consumer", runtime_dir, config, name="monitor")
                 for domain in DOMAINS}
    try:
        print("ready", flush=True)
        quiet_since = None
        while True:
            came = False
            for domain, client in consumers.items():
                result = client.recv_batch(timeout=POLL)
                for message_type in result.types:
                    counts[domain][message_type] += len(result[message_type])
                came = came or len(result) > 0
            if came:
                quiet_since = None
            elif stopping:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > DRAIN_QUIET:
                    break
        gaps = {domain: [g.__dict__ for g in client.gaps if g.reason != GapReason.RelayRestart]
                for domain, client in consumers.items()}
    finally:
        for client in consumers.values():
            client.close()
    # what a relay shed is in its counters; elsewhere a consumer's gaps say what it lost
    dropped = {domain: _relay_dropped(domain, runtime_dir, config) for domain in DOMAINS
               if _on_relay(domain, runtime_dir, config)}
    print(json.dumps({"role": "consumer", "counts": {
        domain: {MessageType(t).name: n for t, n in found.items()}
        for domain, found in counts.items()}, "gaps": gaps, "dropped": dropped}), flush=True)


def _relay_dropped(domain: str, runtime_dir: Path, config: str | None) -> int:
    endpoint = endpoint_of(domain, config, runtime_dir)
    stats = relay_stats(domain, config=None if endpoint is None else endpoint.policy,
                        runtime_dir=runtime_dir)
    return int(stats["frames_dropped"])


ROLES = {"market_data": market_data, "signals": signals, "orders": orders,
         "consumer": consumer}


def main(argv: list[str]) -> int:
    role, runtime_dir, seconds = argv[0], Path(argv[1]), float(argv[2])
    config = argv[3] if len(argv) > 3 else None
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ROLES[role](runtime_dir, seconds, config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
