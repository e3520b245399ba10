"""The services of the live demo, each run as its own process by ``alphapulse demo --relays``:
a market-data collector, a strategy, an execution engine and a monitoring consumer, talking
through the relays. Each prints one JSON line of what it did when it ends.

    python -m alphapulse_codec.samples.live ROLE RUNTIME_DIR SECONDS

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
from typing import Any, cast

from ..relay import Backoff, Producer, connect, subscribe_many
from ..relay.client import relay_stats
from ..relay.many import split_frames
from ..relay.policy import DOMAINS
from ..wire.enums import GapReason, MessageType, SourceType
from .session import PRICE_SCALE, Clock, Market, _instruments, build_session, order_flow

MARKET_DATA_RATE = 20_000    # frames per second, sent in bursts of BURST
BURST = 200
SIGNAL_INTERVAL = 0.02       # seconds between two signals
ORDER_INTERVAL = 0.05        # seconds between two orders' flows
DRAIN_QUIET = 0.5            # the consumer stops once nothing came for this long
RECONNECT = Backoff(give_up_after=30.0)

stopping = False


def _stop(*_: Any) -> None:
    global stopping
    stopping = True


def _types(frames: list[bytes], domain: str) -> list[bytes]:
    return [frame for frame in frames if frame[4] in DOMAINS[domain]]


def _report(role: str, counts: Counter[int], **extra: Any) -> None:
    print(json.dumps({"role": role, "counts": {MessageType(t).name: n for t, n in counts.items()},
                      **extra}), flush=True)


def _paced(producer: Producer, role: str, frames: list[bytes], interval: float,
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
    refused = producer.finish()
    _report(role, counts, refused=len(refused), reconnects=producer.reconnects)


def market_data(runtime_dir: Path, seconds: float) -> None:
    """The sample session's instruments, trades, quotes and book, at MARKET_DATA_RATE."""
    wanted = int(MARKET_DATA_RATE * seconds) + 50
    frames = _types(build_session(wanted), "market_data")
    producer = cast(Producer, connect("market_data", "producer", runtime_dir=runtime_dir,
                                      source=SourceType.PolygonCollector,
                                      name="market-data collector", reconnect=RECONNECT))
    _paced(producer, "market data producer", frames, BURST / MARKET_DATA_RATE, seconds, BURST)


def signals(runtime_dir: Path, seconds: float) -> None:
    """The session's strategy signals, over and over, numbered by the producer."""
    one_round = _types(build_session(60), "signals")
    rounds = int(seconds / SIGNAL_INTERVAL / len(one_round)) + 1
    producer = cast(Producer, connect("signals", "producer", runtime_dir=runtime_dir,
                                      source=SourceType.ArbitrageStrategy, sequence="auto",
                                      name="strategy", reconnect=RECONNECT))
    _paced(producer, "signal producer", one_round * rounds, SIGNAL_INTERVAL, seconds, 1)


def orders(runtime_dir: Path, seconds: float) -> None:
    """Orders of an execution engine: each one's request, acknowledgement, fills and
    reports, with sequences numbered per source by the producer."""
    clock = Clock()
    rng = random.Random(11)
    market = Market(_instruments()["AAPL"], 189 * PRICE_SCALE, SourceType.AlpacaCollector)
    flows = []
    for number in range(int(seconds / ORDER_INTERVAL) + 1):
        market.price += rng.randint(-5, 5) * PRICE_SCALE // 100
        flows.append(b"".join(order_flow(clock, market, 1001 + 16 * number)))
    producer = cast(Producer, connect("execution", "producer", runtime_dir=runtime_dir,
                                      source=SourceType.ExecutionEngine, sequence="auto",
                                      name="execution engine", reconnect=RECONNECT))
    counts: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    for flow in flows:
        if stopping or time.monotonic() >= deadline:
            break
        producer.send_batch(flow)
        counts.update(frame[4] for frame in split_frames(flow))
        time.sleep(ORDER_INTERVAL)
    refused = producer.finish()
    _report("order producer", counts, refused=len(refused), reconnects=producer.reconnects)


def consumer(runtime_dir: Path, seconds: float) -> None:
    """Every relay at once, as a monitoring service: counts per relay and type, gaps, and the
    execution relay's drops at the end."""
    counts: dict[str, Counter[int]] = {domain: Counter() for domain in DOMAINS}
    with subscribe_many(None, runtime_dir=runtime_dir, name="monitor") as relays:
        while relays.status != {domain: "up" for domain in DOMAINS}:
            relays.recv_batch(timeout=0.05)
        print("ready", flush=True)
        quiet_since = None
        while True:
            got = relays.recv_batch(timeout=0.1)
            for domain, result in got:
                for message_type in result.types:
                    counts[domain][message_type] += len(result[message_type])
            if got:
                quiet_since = None
            elif stopping:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > DRAIN_QUIET:
                    break
        gaps = {domain: [g.__dict__ for g in found if g.reason != GapReason.RelayRestart]
                for domain, found in relays.gaps.items()}
    dropped = {domain: relay_stats(domain, runtime_dir=runtime_dir)["frames_dropped"]
               for domain in DOMAINS}
    print(json.dumps({"role": "consumer", "counts": {
        domain: {MessageType(t).name: n for t, n in found.items()}
        for domain, found in counts.items()}, "gaps": gaps, "dropped": dropped}), flush=True)


ROLES = {"market_data": market_data, "signals": signals, "orders": orders,
         "consumer": consumer}


def main(argv: list[str]) -> int:
    role, runtime_dir, seconds = argv[0], Path(argv[1]), float(argv[2])
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ROLES[role](runtime_dir, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
