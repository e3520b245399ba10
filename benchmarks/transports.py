"""Every transport side by side in one run, 64-byte Trades, each reached through
``alphapulse_codec.connect(domain, role, config=...)`` with a configuration document of its own.

    python benchmarks/transports.py [--frames 2000000] [--rounds 3] [--latency-frames 20000]
                                    [--rate 10000] [--quick] [--only ring,unix] [--no-pin]
                                                                      (make bench runs it)

`--only` measures the transports named (comma-separated keys: unix, tcp, ring, channel, nats,
redis) and leaves the rest out, NATS publishing rows included unless nats is named; a target
is judged only when every row it needs was measured (the ring's 3x needs unix as well).

Throughput: 1 producer -> 1 consumer and 1 producer -> 4 consumers, the producer sending
send_batch of 1024-frame blocks, each consumer taking whole frames with recv_bytes; frames/s
delivered, summed over the consumers, from the first frame any consumer received to the last
(median of the rounds). Every domain runs with `overflow: block` (a producer waits for room,
where the transport can make it wait) so that what is delivered compares; frames a consumer
still lacked when nothing came for a few seconds are printed as lost. The network buses batch
1024 frames per NATS message or Redis entry.

One-way latency: single-frame `send`, paced at --rate frames/s, to one consumer noting its
arrival (time.time_ns, the same clock in every process) when `recv` returns: p50 and p99 in us
after a warm-up tenth. Each frame is encoded ahead with the instant it is due in its header
timestamp; the producer sleeps until shortly before that instant (a timer slack of 1 ns, set
with prctl, so the sleep ends when asked), spins to it and sends: a latency runs from when the
frame was due, so a producer late to send adds its lateness (no coordinated omission) and the
encoding is not counted. The producer and the consumer are pinned to two different cores
(os.sched_setaffinity, where the machine has two; not with --no-pin), as latency benchmarks of
rings do, so that they do not take turns on one core; the relays and servers are not pinned.
The ring's producer and consumer busy-spin (`wait: spin`); the buses send each frame as its
own message and flush after each send (their producers otherwise hold single frames until a
batch fills).

The producer and each consumer run in processes of their own (threads of one process for the
in-process channel); the relays and the buses' servers (nats-server, redis-server, started on
loopback for the run) in theirs. A transport whose server is not installed is skipped with a
line saying so. Then the NATS publishing rows: our producer against bare nats-py publishing the
same bytes cut the same way (the ratio is our layer's cost), and JetStream publishing with its
acknowledgements collected at flush. Printed next to the design's table and the targets, each
said met or missed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]

import alphapulse_codec as ap  # noqa: E402
from peers import cpu_model  # noqa: E402
from workload import trade_block  # noqa: E402
from relays import RelayProcess  # noqa: E402
from servers import start_nats, start_redis  # noqa: E402

BLOCK_FRAMES = 1024  # 64 KiB of 64-byte Trades per send_batch
FANOUT = 4
IDLE_SECONDS = 3.0  # a consumer that gets nothing this long after its first frame stops
CTX = multiprocessing.get_context("fork")
DOMAIN = "market_data"


Section = Callable[[Path], contextlib.AbstractContextManager[dict[str, Any]]]


@dataclasses.dataclass
class Parties:
    """Processes, or threads of this process for the channel: how to start one, and the
    events and queues they share."""

    threads: bool

    def start(self, target: Callable[..., None], *args: Any) -> Any:
        party = threading.Thread(target=target, args=args) if self.threads else \
            CTX.Process(target=target, args=args)
        party.start()
        return party

    def event(self) -> Any:
        return threading.Event() if self.threads else CTX.Event()

    def queue(self) -> Any:
        return queue.Queue() if self.threads else CTX.Queue()

    def pause(self) -> None:
        """Lets the other parties run while a paced producer spins to its next send: a thread
        hands over the interpreter's lock; a process, alone on its core, spins on (a yield is a
        system call, and would make it late)."""
        if self.threads:
            time.sleep(0)


@dataclasses.dataclass
class Transport:
    """One row: how to start what it needs (a context manager giving the domain's section of
    the configuration), the design's figures, the keywords its producer takes in the
    throughput and the latency runs, and the server it lacks on this machine, if any."""

    key: str
    title: str
    design: str
    section: Section
    threads: bool = False
    latency_section: Section | None = None  # where the latency run differs (the ring spins)
    flush_each: bool = False  # the latency run flushes after every send
    batched: dict[str, Any] = dataclasses.field(default_factory=dict)
    single: dict[str, Any] = dataclasses.field(default_factory=dict)
    missing: str | None = None


def document(section: dict[str, Any], runtime_dir: Path) -> dict[str, Any]:
    return {"alphapulse": {"runtime_dir": str(runtime_dir), DOMAIN: section}}


@contextlib.contextmanager
def unix_relay(directory: Path) -> Iterator[dict[str, Any]]:
    relay = RelayProcess(DOMAIN, directory, overflow="block").wait_ready()
    try:
        yield {"transport": "unix_socket", "overflow": "block"}
    finally:
        relay.kill()


@contextlib.contextmanager
def tcp_relay(directory: Path) -> Iterator[dict[str, Any]]:
    relay = RelayProcess(DOMAIN, directory, ("--tcp", "127.0.0.1:0"), overflow="block").wait_ready()
    try:
        if relay.address is None:
            raise RuntimeError("the relay started with --tcp did not say its address")
        host, port = relay.address
        yield {"transport": "tcp", "host": host, "port": port, "overflow": "block"}
    finally:
        relay.kill()


@contextlib.contextmanager
def ring(directory: Path, wait: str) -> Iterator[dict[str, Any]]:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else directory
    path = Path(tempfile.mkdtemp(prefix="ap-bench-", dir=shm)) / f"{DOMAIN}.ring"
    try:
        # 2 MiB: a ring the caches producer and consumer share hold whole
        yield {"transport": "shared_memory", "path": str(path), "size_mb": 2, "wait": wait,
               "overflow": "block"}
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@contextlib.contextmanager
def channel(directory: Path) -> Iterator[dict[str, Any]]:
    yield {"transport": "channel", "overflow": "block"}


@contextlib.contextmanager
def nats_bus(directory: Path, **more: Any) -> Iterator[dict[str, Any]]:
    server = start_nats(directory)
    try:
        yield {"transport": "nats", "servers": [server.url], "overflow": "block", **more}
    finally:
        server.stop()


@contextlib.contextmanager
def redis_bus(directory: Path, frames: int) -> Iterator[dict[str, Any]]:
    server = start_redis(directory)
    try:
        # the stream keeps every frame of the run: none trimmed before its consumers read it
        yield {"transport": "redis", "url": server.url, "overflow": "block",
               "capacity": (FANOUT + 1) * frames}
    finally:
        server.stop()


def installed(name: str) -> bool:
    return bool(shutil.which(name) or Path(f"/usr/sbin/{name}").exists())


def transports(frames: int) -> list[Transport]:
    batching = {"batch_frames": BLOCK_FRAMES, "batch_bytes": BLOCK_FRAMES * 64}
    one_by_one = {"batch_frames": 1}
    return [
        Transport("unix", "Unix-socket relay", "100K msg/s, ~10 us", unix_relay),
        Transport("tcp", "relay over TCP, loopback", "-", tcp_relay),
        Transport("ring", "shared-memory ring", "5M msg/s, ~500 ns",
                  lambda d: ring(d, "yield"), latency_section=lambda d: ring(d, "spin")),
        Transport("channel", "in-process channel (threads)", "-", channel, threads=True),
        Transport("nats", "NATS core", "500K msg/s, ~50 us", nats_bus, batched=batching,
                  single=one_by_one, flush_each=True,
                  missing=None if installed("nats-server") else "nats-server"),
        Transport("redis", "Redis Streams", "200K msg/s, ~100 us",
                  lambda d: redis_bus(d, frames), batched=batching, single=one_by_one,
                  flush_each=True, missing=None if installed("redis-server") else "redis-server"),
    ]


# ---- throughput ---------------------------------------------------------------------------

def produce(config: dict[str, Any], frames: int, options: dict[str, Any]) -> None:
    block = trade_block(BLOCK_FRAMES)
    with ap.connect(DOMAIN, "producer", config=config, name="bench-producer",
                    **options) as producer:
        for _ in range(frames // BLOCK_FRAMES):
            producer.send_batch(block)
        producer.flush()


def consume(config: dict[str, Any], frames: int, ready: Any, result: Any) -> None:
    """Puts (frames received, the clock at the first, at the last): CLOCK_MONOTONIC, the same
    in every process."""
    with ap.connect(DOMAIN, "consumer", config=config, name="bench-consumer") as consumer:
        ready.set()
        received = len(consumer.recv_bytes(timeout=120)) // 64
        first = last = time.perf_counter()
        while received < frames:
            got = len(consumer.recv_bytes(timeout=IDLE_SECONDS)) // 64
            if not got:
                break
            received += got
            last = time.perf_counter()
    result.put((received, first, last))


def throughput(transport: Transport, config: dict[str, Any], frames: int,
               consumers: int) -> tuple[float, int]:
    """Frames/s delivered summed over ``consumers``, and the frames they did not get."""
    parties = Parties(transport.threads)
    ready, result = [parties.event() for _ in range(consumers)], parties.queue()
    readers = [parties.start(consume, config, frames, event, result) for event in ready]
    for event in ready:
        event.wait(60)
    writer = parties.start(produce, config, frames, transport.batched)
    counts = [result.get(timeout=600) for _ in readers]
    writer.join(60)
    for reader in readers:
        reader.join(60)
    delivered = sum(c[0] for c in counts)
    seconds = max(c[2] for c in counts) - min(c[1] for c in counts)
    return delivered / max(seconds, 1e-9), consumers * frames - delivered


# ---- one-way latency ----------------------------------------------------------------------

SPIN_NS = 20_000  # the end of a paced producer's wait is spun: a sleep's wake-up is later
PR_SET_TIMERSLACK = 29


def pin(core: int | None) -> None:
    """Keeps the calling thread on ``core`` of those this process may use, where it has two
    (None: where the scheduler puts it)."""
    cores = sorted(os.sched_getaffinity(0))
    if core is not None and len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


def exact_sleeps() -> None:
    """A timer slack of 1 ns for the calling thread: its sleeps end when asked, not up to the
    default 50 us later (Linux; elsewhere the sleeps keep their slack)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


def paced_producer(config: dict[str, Any], count: int, rate: int, options: dict[str, Any],
                   pause: Callable[[], None], flush_each: bool, core: int | None) -> None:
    """``count`` Trades sent one by one, ``rate`` a second, each encoded ahead with the instant
    it is due (time.time_ns) in its header timestamp and sent at that instant: a sleep to
    SPIN_NS before it, then a spin, ``pause`` letting the others run between checks."""
    pin(core)
    exact_sleeps()
    instrument = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    encode = ap.Trade.encode
    interval = 1_000_000_000 // rate
    with ap.connect(DOMAIN, "producer", config=config, name="bench-paced",
                    **options) as producer:
        due = time.time_ns()
        for sequence in range(1, count + 1):
            due += interval
            frame = encode(instrument_id=instrument, price=100, volume=1, side=1,
                           sequence=sequence, source=ap.SourceType.BinanceCollector,
                           timestamp=due)
            left = due - time.time_ns()
            if left > SPIN_NS:
                time.sleep((left - SPIN_NS) / 1e9)
            while time.time_ns() < due:
                pause()
            producer.send(frame)
            if flush_each:
                producer.flush()
        producer.flush()


def latency_consumer(config: dict[str, Any], count: int, ready: Any, result: Any,
                     core: int | None) -> None:
    pin(core)
    latencies = np.empty(count, dtype=np.int64)
    received = 0
    with ap.connect(DOMAIN, "consumer", config=config, name="bench-latency") as consumer:
        ready.set()
        try:
            for received in range(count):
                message = consumer.recv(timeout=IDLE_SECONDS + 10)
                latencies[received] = time.time_ns() - message.header.timestamp
            received = count
        except TimeoutError:
            pass
    result.put(latencies[:received])


def latency(transport: Transport, config: dict[str, Any], count: int, rate: int,
            pinned: bool) -> tuple[float, float, int]:
    """p50 and p99 one-way latency (us) after a warm-up tenth, and the frames that never came;
    ``pinned``: the producer on one core, the consumer on another."""
    parties = Parties(transport.threads)
    ready, result = parties.event(), parties.queue()
    reader = parties.start(latency_consumer, config, count, ready, result, 1 if pinned else None)
    ready.wait(60)
    writer = parties.start(paced_producer, config, count, rate, transport.single, parties.pause,
                           transport.flush_each, 0 if pinned else None)
    latencies = result.get(timeout=600)
    writer.join(60)
    reader.join(60)
    warm = latencies[len(latencies) // 10:] / 1000.0
    if not len(warm):
        return float("nan"), float("nan"), count - len(latencies)
    p50, p99 = np.percentile(warm, [50, 99])
    return float(p50), float(p99), count - len(latencies)


# ---- NATS publishing ----------------------------------------------------------------------

def our_publish(config: dict[str, Any], blocks: list[bytes]) -> float:
    """Seconds our producer takes to publish ``blocks`` (1024 frames per NATS message) and
    have the server confirm them (flush); with `jetstream: true` every acknowledgement in."""
    with ap.connect(DOMAIN, "producer", config=config, batch_frames=BLOCK_FRAMES,
                    batch_bytes=BLOCK_FRAMES * 64) as producer:
        start = time.perf_counter()
        for block in blocks:
            producer.send_batch(block)
        producer.flush()
        return time.perf_counter() - start


def bare_publish(url: str, subject: str, blocks: list[bytes]) -> float:
    """The same bytes, one NATS message per block, by nats-py alone, then its flush."""
    import nats

    async def run() -> float:
        connection = await nats.connect(url)
        start = time.perf_counter()
        for block in blocks:
            await connection.publish(subject, block)
        await connection.flush()
        elapsed = time.perf_counter() - start
        await connection.close()
        return elapsed

    return asyncio.run(run())


# ---- the run ------------------------------------------------------------------------------

@dataclasses.dataclass
class Figures:
    one: float = float("nan")
    fanout: float = float("nan")
    lost: int = 0
    p50: float = float("nan")
    p99: float = float("nan")


def measure(transport: Transport, frames: int, rounds: int, latency_frames: int,
            rate: int, pinned: bool) -> Figures:
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="ap-transports-", dir="/tmp") as name:
        directory = Path(name)
        with transport.section(directory) as section:
            config = document(section, directory)
            ones = [throughput(transport, config, frames, 1) for _ in range(rounds)]
            fans = [throughput(transport, config, frames, FANOUT) for _ in range(rounds)]
        figures.one = statistics.median(r[0] for r in ones)
        figures.fanout = statistics.median(r[0] for r in fans)
        figures.lost = sum(r[1] for r in ones + fans)
        with (transport.latency_section or transport.section)(directory) as section:
            figures.p50, figures.p99, lost = latency(transport, document(section, directory),
                                                     latency_frames, rate, pinned)
            figures.lost += lost
    return figures


def nats_publishing(frames: int, rounds: int) -> tuple[float, float, float]:
    """Our producer's frames/s, bare nats-py's on the same bytes, JetStream's acknowledged."""
    blocks = [trade_block(BLOCK_FRAMES) for _ in range(frames // BLOCK_FRAMES)]
    with tempfile.TemporaryDirectory(prefix="ap-transports-", dir="/tmp") as name:
        directory = Path(name)
        with nats_bus(directory) as section:
            config = document(section, directory)
            ours = [our_publish(config, blocks) for _ in range(rounds)]
            bare = [bare_publish(section["servers"][0], f"alphapulse.{DOMAIN}.Trade", blocks)
                    for _ in range(rounds)]
        with nats_bus(directory, jetstream=True) as section:
            config = document(section, directory)
            acknowledged = [our_publish(config, blocks) for _ in range(rounds)]
    frames = len(blocks) * BLOCK_FRAMES
    return (frames / statistics.median(ours), frames / statistics.median(bare),
            frames / statistics.median(acknowledged))


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2_000_000,
                        help="frames per round of the throughput rows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-frames", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=10_000,
                        help="frames/s offered in the latency runs")
    parser.add_argument("--quick", action="store_true",
                        help="small counts and one round: proves the script runs, measures nothing")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave the latency runs' producer and consumer where the scheduler"
                        " puts them (on a machine other work keeps busy, a pinned spinning"
                        " consumer waits for its one core)")
    parser.add_argument("--only", type=lambda text: text.split(","), default=None,
                        metavar="KEY,...", help="measure only these transports (keys: "
                        + ", ".join(t.key for t in transports(BLOCK_FRAMES)) + ")")
    options = parser.parse_args()
    keys = {t.key for t in transports(BLOCK_FRAMES)}
    unknown = sorted(set(options.only or ()) - keys)
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; expected some of"
                     f" {', '.join(sorted(keys))}")
    def chosen(key: str) -> bool:
        return options.only is None or key in options.only

    if options.quick:
        options.frames, options.rounds, options.latency_frames = 32_768, 1, 300
    frames = max(options.frames // BLOCK_FRAMES, 1) * BLOCK_FRAMES
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average"
          f" {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(f"{frames:,} frames of 64 bytes per throughput round, send_batch of {BLOCK_FRAMES},"
          f" recv_bytes, {options.rounds} rounds, median; latency: {options.latency_frames:,}"
          f" single sends at {options.rate:,} frames/s offered, from the instant each was due,"
          " producer and consumer "
          + ("left to the scheduler" if options.no_pin else "pinned to two cores"))
    print(f"every row through alphapulse_codec.connect({DOMAIN!r}, role, config=...), its own"
          " configuration document, overflow: block")
    header = (f"{'transport':<30} {'1->1 frames/s':>14} {f'1->{FANOUT} frames/s':>14}"
              f" {'lost':>7} {'p50 us':>8} {'p99 us':>8}   design")
    print(header)
    results: dict[str, Figures] = {}
    for transport in transports(frames):
        if not chosen(transport.key):
            continue
        if transport.missing:
            print(f"{transport.title:<30} skipped: {transport.missing} is not installed")
            continue
        figures = results[transport.key] = measure(transport, frames, options.rounds,
                                                   options.latency_frames, options.rate,
                                                   not options.no_pin)
        print(f"{transport.title:<30} {figures.one:>14,.0f} {figures.fanout:>14,.0f}"
              f" {figures.lost:>7,} {figures.p50:>8.1f} {figures.p99:>8.1f}   {transport.design}",
              flush=True)
    print("(frames/s: deliveries summed over the consumers; lost: frames a consumer never got,"
          " over every round; latency: one-way, the ring busy-spinning, the buses one frame per"
          " message and a flush after each send, as their producers otherwise hold single"
          " frames for a batch: a NATS outbox, a Redis pipeline of 64 entries)")
    nats = None
    if not chosen("nats"):
        pass  # left out by --only: no line
    elif installed("nats-server"):
        ours, bare, acknowledged = nats = nats_publishing(frames, options.rounds)
        print(f"{'NATS publish, our producer':<30} {ours:>14,.0f} frames/s")
        print(f"{'NATS publish, bare nats-py':<30} {bare:>14,.0f} frames/s (the same bytes,"
              f" {BLOCK_FRAMES} frames per message)")
        print(f"{'NATS JetStream publish':<30} {acknowledged:>14,.0f} frames/s (acknowledgements"
              f" collected at flush)")
    else:
        print("NATS publishing rows skipped: nats-server is not installed")
    print("targets:")
    targets: list[tuple[str, float, str, bool]] = []
    if "ring" in results:
        ring_figures = results["ring"]
        targets.append(("ring 1->1 >= 20,000,000 frames/s", ring_figures.one, ",.0f",
                        ring_figures.one >= 20e6))
        if "unix" in results:
            targets.append(("ring 1->1 >= 3x the Unix relay",
                            ring_figures.one / results["unix"].one, ".2f",
                            ring_figures.one >= 3 * results["unix"].one))
        targets += [("ring p50 <= 1 us (busy-spin)", ring_figures.p50, ".2f",
                      ring_figures.p50 <= 1.0),
                     ("ring p99 <= 5 us (busy-spin)", ring_figures.p99, ".2f",
                      ring_figures.p99 <= 5.0)]
    if "channel" in results:
        targets.append(("channel 1->1 >= 20,000,000 frames/s", results["channel"].one, ",.0f",
                        results["channel"].one >= 20e6))
    if "nats" in results and nats:
        targets += [("NATS 1->1 delivered >= 1,500,000 frames/s", results["nats"].one, ",.0f",
                     results["nats"].one >= 1.5e6),
                    ("NATS publish time <= 1.2x bare nats-py", nats[1] / nats[0], ".2f",
                     nats[1] / nats[0] <= 1.2),
                    ("JetStream publish >= 200,000 frames/s", nats[2], ",.0f", nats[2] >= 2e5)]
    if "redis" in results:
        targets.append(("Redis 1->1 delivered >= 500,000 frames/s", results["redis"].one,
                        ",.0f", results["redis"].one >= 5e5))
    for title, value, spec, met in targets:
        print(f"  {title:<44} {value:>14{spec}}   {verdict(met)}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
