"""Every transport side by side in one run, 64-byte Trades, each reached through
``alphapulse_codec.connect(domain, role, config=...)`` with a configuration document of its own.

    python benchmarks/transports.py [--frames 2000000] [--rounds 3] [--latency-frames 20000]
                                    [--rate 10000] [--quick] [--publishing-only]
                                    [--only ring,unix] [--no-pin]     (make bench runs it)

`--only` measures the transports named (comma-separated keys: unix, tcp, ring, channel, nats,
redis) and leaves the rest out, NATS publishing rows included unless nats is named; a target
is judged only when every row it needs was measured (the ring's 3x needs unix as well).

Throughput: 1 producer -> 1 consumer and 1 producer -> 4 consumers, the producer sending
send_batch of 1024-frame blocks, each consumer taking whole frames with recv_bytes; frames/s
delivered, summed over the consumers, from the end of the first read any consumer made to the
last, the frames of first reads left out (median of the rounds). Every domain runs with `overflow: block` (a producer waits for room,
where the transport can make it wait) so that what is delivered compares; frames a consumer
still lacked when nothing came for a few seconds are printed as lost. The network buses batch
1024 frames per NATS message or Redis entry.

One-way latency: single-frame `send`, paced at --rate frames/s, to one consumer noting its
arrival (time.time_ns, the same clock in every process) when `recv` returns: p50 and p99 in us
after a warm-up tenth. Each frame is encoded ahead with the instant it is due in its header
timestamp; the producer sleeps until shortly before that instant (on a timer of 1 ns slack, see
pacing.py), spins to it and sends: a latency runs from when the frame was due, so a producer
late to send adds its lateness (no coordinated omission) and the encoding is not counted. The
producer and the consumer are pinned to two different cores (os.sched_setaffinity, where the
machine has two; not with --no-pin), as latency benchmarks of rings do, so that they do not
take turns on one core; the relays and servers are not pinned. The ring's producer and
consumer busy-spin (`wait: spin`); the buses send each frame as its own message (a producer
of batch_frames=1 writes each at once, and reads the server's answers later). Under the ring's
row, the same rate of clock stamps through the slots of a bare shared page between two
pinned Python processes, paced as the producer is and each stamp read in turn as a frame is:
a ring with nothing of ours in it, what the ring's latency cannot go under on the machine then.

The producer and each consumer run in processes of their own (threads of one process for the
in-process channel); the relays and the buses' servers (nats-server, redis-server, started on
loopback for the run) in theirs. A transport whose server is not installed is skipped with a
line saying so. Then the NATS publishing rows, like against like: bare nats-py publishing the
same bytes cut the same way (one 1024-frame message per block, on the subject our producer
uses) from a coroutine, against our asyncio producer (``ap.aio.connect``) from a coroutine on
the same kind of loop: the ratio of their times is our layer's cost (every frame checked,
checksum included, and cut by type), the target's figure. Our blocking producer is shown too:
the same checks on the caller's thread, nats-py on the producer's loop thread, each send_batch
handed over with one call_soon_threadsafe; its difference to the asyncio producer is what that
hand-over costs (on two cores or more the checks of one block overlap the publishing of the
one before). The three take turns within each round, each round starting with the next; the
ratio printed (and judged against the target) is the median over the rounds of each round's
time against bare nats-py's in the same round, so that a round the machine's other work
slowed weighs on both sides of its ratio; the same ratio of this process's CPU time (all its
threads) is printed beside it. Then JetStream publishing with its
acknowledgements collected at flush, and one-way latency over NATS like against like: nats-py
alone (an asyncio publisher and subscriber, one frame a message, the arrival noted in the
subscription's callback) against our asyncio producer and consumer (``ap.aio.connect``, the
arrival noted when `await recv()` returns), with our blocking ones beside them (the NATS row's
clients: each frame handed by `send` to the producer's loop thread, and by the consumer's loop
thread to `recv`), all paced and pinned as the latency rows, the three taking turns within each
of --rounds rounds, each run on a server of its own; the medians are printed, and each round's
p50 against bare nats-py's in the same round (the median). Printed next to the design's table
and the targets, each said met or missed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import queue
import shutil
import statistics
import struct
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
from alphapulse_codec import aio  # noqa: E402
from floor import shared_memory_hop  # noqa: E402
from peers import cpu_model  # noqa: E402
from pacing import pin, tight_timer_slack  # noqa: E402
from workload import trade_block  # noqa: E402
from relays import RelayProcess  # noqa: E402
from servers import start_nats, start_redis  # noqa: E402

BLOCK_FRAMES = 1024  # 64 KiB of 64-byte Trades per send_batch
FANOUT = 4
IDLE_SECONDS = 3.0  # a consumer that gets nothing this long after its first frame stops
CTX = multiprocessing.get_context("fork")
DOMAIN = "market_data"
TIMESTAMP = struct.Struct("<Q")  # a frame header's timestamp, at byte 20


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
                  single=one_by_one,
                  missing=None if installed("nats-server") else "nats-server"),
        Transport("redis", "Redis Streams", "200K msg/s, ~100 us",
                  lambda d: redis_bus(d, frames), batched=batching, single=one_by_one,
                  missing=None if installed("redis-server") else "redis-server"),
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
    """Puts (frames received, those of the first read, the clock at the end of the first read
    and of the last): CLOCK_MONOTONIC, the same in every process."""
    with ap.connect(DOMAIN, "consumer", config=config, name="bench-consumer") as consumer:
        ready.set()
        received = first_read = len(consumer.recv_bytes(timeout=120)) // 64
        first = last = time.perf_counter()
        while received < frames:
            got = len(consumer.recv_bytes(timeout=IDLE_SECONDS)) // 64
            if not got:
                break
            received += got
            last = time.perf_counter()
    result.put((received, first_read, first, last))


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
    # the frames of a first read came before the clock started: not counted in the rate
    timed = delivered - sum(c[1] for c in counts)
    seconds = max(c[3] for c in counts) - min(c[2] for c in counts)
    return timed / max(seconds, 1e-9), consumers * frames - delivered


# ---- one-way latency ----------------------------------------------------------------------

SPIN_NS = 20_000  # the end of a paced producer's wait is spun: a sleep's wake-up is later


def spent_per_frame(spent: Any, party: str, since: float, frames: int) -> None:
    """Puts (party, us of this process's CPU time, every thread's, a frame since ``since``)."""
    spent.put((party, (time.process_time() - since) / max(frames, 1) * 1e6))


def paced_trades(count: int, rate: int, pause: Callable[[], None] = lambda: None
                 ) -> Iterator[bytes]:
    """``count`` Trades, ``rate`` a second, each encoded ahead with the instant it is due
    (time.time_ns) in its header timestamp and given at that instant: a sleep to SPIN_NS before
    it, then a spin, ``pause`` letting the others run between checks."""
    tight_timer_slack()
    instrument = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    encode = ap.Trade.encode
    interval = 1_000_000_000 // rate
    due = time.time_ns()
    for sequence in range(1, count + 1):
        due += interval
        frame = encode(instrument_id=instrument, price=100, volume=1, side=1,
                       sequence=sequence, source=ap.SourceType.BinanceCollector, timestamp=due)
        left = due - time.time_ns()
        if left > SPIN_NS:
            time.sleep((left - SPIN_NS) / 1e9)
        while time.time_ns() < due:
            pause()
        yield frame


def paced_producer(config: dict[str, Any], count: int, rate: int, options: dict[str, Any],
                   pause: Callable[[], None], spent: Any, core: int | None) -> None:
    """Our blocking producer sending paced_trades one by one."""
    pin(core)
    with ap.connect(DOMAIN, "producer", config=config, name="bench-paced",
                    **options) as producer:
        since = time.process_time()
        for frame in paced_trades(count, rate, pause):
            producer.send(frame)
        producer.flush()
        spent_per_frame(spent, "producer", since, count)


def latency_consumer(config: dict[str, Any], count: int, ready: Any, result: Any,
                     spent: Any, core: int | None) -> None:
    pin(core)
    latencies = np.empty(count, dtype=np.int64)
    received = 0
    with ap.connect(DOMAIN, "consumer", config=config, name="bench-latency") as consumer:
        ready.set()
        since = time.process_time()
        try:
            for received in range(count):
                message = consumer.recv(timeout=IDLE_SECONDS + 10)
                latencies[received] = time.time_ns() - message.header.timestamp
            received = count
        except TimeoutError:
            pass
        spent_per_frame(spent, "consumer", since, received)
    result.put(latencies[:received])


Latency = tuple[float, float, int, dict[str, float]]
"""p50 and p99 one-way latency (us) after a warm-up tenth, the frames that never came, and the
producer's and the consumer's CPU time a frame (us, each process's, every thread's)."""


def latency(transport: Transport, config: dict[str, Any], count: int, rate: int,
            pinned: bool) -> Latency:
    """One-way latency through ``transport``; ``pinned``: the producer on one core, the
    consumer on another."""
    parties = Parties(transport.threads)
    ready, result, spent = parties.event(), parties.queue(), parties.queue()
    reader = parties.start(latency_consumer, config, count, ready, result, spent,
                           1 if pinned else None)
    ready.wait(60)
    writer = parties.start(paced_producer, config, count, rate, transport.single, parties.pause,
                           spent, 0 if pinned else None)
    return gathered(count, result, spent, writer, reader)


def gathered(count: int, result: Any, spent: Any, writer: Any, reader: Any) -> Latency:
    """What a latency run's consumer (``result``) and both parties (``spent``) put, once they
    are done."""
    latencies = result.get(timeout=600)
    cpu = dict(spent.get(timeout=60) for _ in range(2))
    writer.join(60)
    reader.join(60)
    return (*after_warm_up(latencies, count), cpu)


def after_warm_up(latencies: np.ndarray, count: int) -> tuple[float, float, int]:
    """p50 and p99 (us) of one-way latencies (ns) after a warm-up tenth, and how many of the
    ``count`` frames sent never came."""
    warm = latencies[len(latencies) // 10:] / 1000.0
    if not len(warm):
        return float("nan"), float("nan"), count - len(latencies)
    p50, p99 = np.percentile(warm, [50, 99])
    return float(p50), float(p99), count - len(latencies)


# ---- NATS publishing ----------------------------------------------------------------------

Timing = tuple[float, float]  # seconds of the clock, seconds of this process's CPU


class Stopwatch:
    """The clock and this process's CPU time (all its threads) from `start` to `stop`."""

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> Timing:
        return time.perf_counter() - self._wall, time.process_time() - self._cpu


def our_publish(config: dict[str, Any], blocks: list[bytes]) -> Timing:
    """Our blocking producer publishing ``blocks`` (1024 frames per NATS message) until the
    server confirms them (flush); with `jetstream: true` every acknowledgement in. Its checks
    run on the caller's thread, nats-py on the producer's loop thread: each send_batch hands
    its messages over with one call_soon_threadsafe (none while the loop is busy)."""
    watch = Stopwatch()
    with ap.connect(DOMAIN, "producer", config=config, batch_frames=BLOCK_FRAMES,
                    batch_bytes=BLOCK_FRAMES * 64) as producer:
        watch.start()
        for block in blocks:
            producer.send_batch(block)
        producer.flush()
        return watch.stop()


def our_publish_async(config: dict[str, Any], blocks: list[bytes]) -> Timing:
    """The same through ``aio.connect``: our asyncio producer, on the caller's loop."""

    async def run() -> Timing:
        watch = Stopwatch()
        async with await aio.connect(DOMAIN, "producer", config=config,
                                     batch_frames=BLOCK_FRAMES,
                                     batch_bytes=BLOCK_FRAMES * 64) as producer:
            watch.start()
            for block in blocks:
                await producer.send_batch(block)
            await producer.flush()
            return watch.stop()

    return asyncio.run(run())


def bare_publish(url: str, subject: str, blocks: list[bytes]) -> Timing:
    """The same bytes cut the same way, one NATS message per block on the subject our
    producer uses, by nats-py alone from a coroutine, then its flush."""
    import nats

    async def run() -> Timing:
        watch = Stopwatch()
        connection = await nats.connect(url)
        watch.start()
        for block in blocks:
            await connection.publish(subject, block)
        await connection.flush()
        elapsed = watch.stop()
        await connection.close()
        return elapsed

    return asyncio.run(run())


def bare_subscriber(url: str, subject: str, count: int, ready: Any, result: Any,
                    spent: Any, core: int | None) -> None:
    """nats-py alone, from a coroutine: the nanoseconds from each frame's due instant (its
    header timestamp) to its arrival in the subscription's callback."""
    import nats

    pin(core)
    latencies = np.empty(count, dtype=np.int64)

    async def run() -> None:
        connection = await nats.connect(url)
        received = 0
        done = asyncio.Event()

        async def arrived(message: Any) -> None:
            nonlocal received
            if received < count:
                latencies[received] = time.time_ns() - TIMESTAMP.unpack_from(message.data, 20)[0]
                received += 1
                if received == count:
                    done.set()

        await connection.subscribe(subject, cb=arrived)
        await connection.flush()
        ready.set()
        since = time.process_time()
        try:
            await asyncio.wait_for(done.wait(), IDLE_SECONDS + count / 1000)
        except asyncio.TimeoutError:
            pass
        spent_per_frame(spent, "consumer", since, received)
        await connection.close()
        result.put(latencies[:received])

    asyncio.run(run())


def bare_publisher(url: str, subject: str, count: int, rate: int, spent: Any,
                   core: int | None) -> None:
    """nats-py alone publishing paced_trades one per message, from a coroutine."""
    import nats

    pin(core)

    async def run() -> None:
        connection = await nats.connect(url)
        since = time.process_time()
        for frame in paced_trades(count, rate):
            await connection.publish(subject, frame)
            await asyncio.sleep(0)  # its flusher writes it now, as our producer's loop does
        await connection.flush()
        spent_per_frame(spent, "producer", since, count)
        await connection.close()

    asyncio.run(run())


def aio_publisher(config: dict[str, Any], count: int, rate: int, spent: Any,
                  core: int | None) -> None:
    """Our asyncio producer (aio.connect, one frame a message) sending paced_trades from a
    coroutine, as bare_publisher does: the same loop, the same yield after each send."""
    pin(core)

    async def run() -> None:
        async with await aio.connect(DOMAIN, "producer", config=config, name="bench-paced",
                                     batch_frames=1) as producer:
            since = time.process_time()
            for frame in paced_trades(count, rate):
                await producer.send(frame)
                await asyncio.sleep(0)
            await producer.flush()
            spent_per_frame(spent, "producer", since, count)

    asyncio.run(run())


def aio_subscriber(config: dict[str, Any], count: int, ready: Any, result: Any,
                   spent: Any, core: int | None) -> None:
    """Our asyncio consumer: the nanoseconds from each frame's due instant to the return of
    its `await recv()`."""
    pin(core)
    latencies = np.empty(count, dtype=np.int64)

    async def run() -> int:
        received = 0
        async with await aio.connect(DOMAIN, "consumer", config=config,
                                     name="bench-latency") as consumer:
            ready.set()
            since = time.process_time()
            try:
                for received in range(count):
                    message = await consumer.recv(timeout=IDLE_SECONDS + 10)
                    latencies[received] = time.time_ns() - message.header.timestamp
                received = count
            except TimeoutError:
                pass
            spent_per_frame(spent, "consumer", since, received)
        return received

    result.put(latencies[:asyncio.run(run())])


def bare_nats_latency(config: dict[str, Any], count: int, rate: int, pinned: bool) -> Latency:
    """One-way latency through nats-py alone: the peer of our NATS rows'."""
    from alphapulse_codec.transport.nats import subject as nats_subject

    url = config["alphapulse"][DOMAIN]["servers"][0]
    subject = nats_subject("alphapulse", DOMAIN, "Trade")
    ready, result, spent = CTX.Event(), CTX.Queue(), CTX.Queue()
    reader = CTX.Process(target=bare_subscriber, args=(url, subject, count, ready, result, spent,
                                                        1 if pinned else None))
    reader.start()
    ready.wait(60)
    writer = CTX.Process(target=bare_publisher,
                         args=(url, subject, count, rate, spent, 0 if pinned else None))
    writer.start()
    return gathered(count, result, spent, writer, reader)


def aio_nats_latency(config: dict[str, Any], count: int, rate: int, pinned: bool) -> Latency:
    """The same through our asyncio producer and consumer."""
    ready, result, spent = CTX.Event(), CTX.Queue(), CTX.Queue()
    reader = CTX.Process(target=aio_subscriber, args=(config, count, ready, result, spent,
                                                       1 if pinned else None))
    reader.start()
    ready.wait(60)
    writer = CTX.Process(target=aio_publisher,
                         args=(config, count, rate, spent, 0 if pinned else None))
    writer.start()
    return gathered(count, result, spent, writer, reader)


@dataclasses.dataclass
class NatsLatencies:
    """One-way latency over NATS, each round's runs of bare nats-py, our asyncio clients and
    our blocking ones taking turns (each round starting with the next)."""

    bare: list[Latency]
    ours_async: list[Latency]
    ours_blocking: list[Latency]

    @staticmethod
    def median(runs: list[Latency]) -> Latency:
        """Medians over the rounds (frames lost: the sum)."""
        return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                sum(r[2] for r in runs),
                {party: statistics.median(r[3][party] for r in runs)
                 for party in ("producer", "consumer")})

    def ratio(self, runs: list[Latency]) -> float:
        """The median over the rounds of each round's p50 against bare nats-py's."""
        return statistics.median(ours[0] / bare[0] for ours, bare in zip(runs, self.bare))


def nats_latencies(count: int, rate: int, pinned: bool, rounds: int) -> NatsLatencies:
    """Like against like: bare nats-py's asyncio publisher and subscriber against our asyncio
    producer and consumer (aio.connect) on the same kind of loop; our blocking ones (the NATS
    row's: a frame handed to the producer's loop thread, and from the consumer's to the caller)
    beside them. Each run on a server of its own, started for it."""
    nats_transport = next(t for t in transports(BLOCK_FRAMES) if t.key == "nats")
    found = NatsLatencies([], [], [])
    runs: list[tuple[list[Latency], Callable[[dict[str, Any]], Latency]]] = [
        (found.bare, lambda config: bare_nats_latency(config, count, rate, pinned)),
        (found.ours_async, lambda config: aio_nats_latency(config, count, rate, pinned)),
        (found.ours_blocking, lambda config: latency(nats_transport, config, count, rate,
                                                     pinned))]
    for round_number in range(rounds):
        for figures, run in runs[round_number % 3:] + runs[:round_number % 3]:
            with tempfile.TemporaryDirectory(prefix="ap-transports-", dir="/tmp") as name:
                with nats_bus(Path(name)) as section:
                    figures.append(run(document(section, Path(name))))
    return found


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
            figures.p50, figures.p99, lost, _ = latency(transport, document(section, directory),
                                                        latency_frames, rate, pinned)
            figures.lost += lost
    return figures


@dataclasses.dataclass
class Publishing:
    """What each round took to publish the same blocks until the server confirmed them: bare
    nats-py, our asyncio producer, our blocking producer (taking turns), then JetStream's."""

    frames: int
    bare: list[Timing]
    ours_async: list[Timing]
    ours_blocking: list[Timing]
    acknowledged: list[Timing]

    def rate(self, timings: list[Timing]) -> float:
        """Frames/s over the median round."""
        return self.frames / statistics.median(wall for wall, _ in timings)

    def ratio(self, timings: list[Timing], cpu: bool = False) -> float:
        """The median over the rounds of each round's time (or CPU time) against bare
        nats-py's in the same round: what loads the machine in a round weighs on both."""
        return statistics.median(ours[cpu] / bare[cpu] for ours, bare in zip(timings, self.bare))

    def hand_over_ns(self) -> float:
        """What the blocking producer's hand-over to its loop thread adds, a frame: the median
        round's difference to the asyncio producer."""
        return statistics.median(blocking[0] - ours[0] for blocking, ours
                                 in zip(self.ours_blocking, self.ours_async)) / self.frames * 1e9


def nats_publishing(frames: int, rounds: int) -> Publishing:
    """Each round runs bare nats-py and our two producers one after the other on the same
    server, so that what else the machine runs weighs on all three alike, each round starting
    with the next of the three (the first of a run warms the server up)."""
    from alphapulse_codec.transport.nats import subject as nats_subject

    blocks = [trade_block(BLOCK_FRAMES) for _ in range(frames // BLOCK_FRAMES)]
    bare: list[Timing] = []
    ours_async: list[Timing] = []
    ours_blocking: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="ap-transports-", dir="/tmp") as name:
        directory = Path(name)
        with nats_bus(directory) as section:
            config = document(section, directory)
            subject = nats_subject("alphapulse", DOMAIN, "Trade")
            runs: list[tuple[list[Timing], Callable[[], Timing]]] = [
                (bare, lambda: bare_publish(section["servers"][0], subject, blocks)),
                (ours_async, lambda: our_publish_async(config, blocks)),
                (ours_blocking, lambda: our_publish(config, blocks))]
            for round_number in range(rounds):
                for timings, publish in runs[round_number % 3:] + runs[:round_number % 3]:
                    timings.append(publish())
        with nats_bus(directory, jetstream=True) as section:
            config = document(section, directory)
            acknowledged = [our_publish(config, blocks) for _ in range(rounds)]
    return Publishing(len(blocks) * BLOCK_FRAMES, bare, ours_async, ours_blocking,
                      acknowledged)


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def chosen(options: argparse.Namespace, key: str) -> bool:
    return options.only is None or key in options.only


def measure_all(frames: int, options: argparse.Namespace, results: dict[str, Figures]
                ) -> None:
    """Every transport's row: throughput and latency."""
    header = (f"{'transport':<30} {'1->1 frames/s':>14} {f'1->{FANOUT} frames/s':>14}"
              f" {'lost':>7} {'p50 us':>8} {'p99 us':>8}   design")
    print(header)
    for transport in transports(frames):
        if not chosen(options, transport.key):
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
    if "ring" in results and len(os.sched_getaffinity(0)) >= 2:
        bare = shared_memory_hop(options.latency_frames, options.rate, SPIN_NS)
        p50, p99 = np.percentile(bare[len(bare) // 10:] / 1000, [50, 99])
        print(f"{'  bare shared page, no ring':<30} {'':>14} {'':>14} {'':>7} {p50:>8.1f}"
              f" {p99:>8.1f}   the floor under the ring's: clock stamps written in turn to"
              " the slots of a shared page, paced as the producer, and read in turn, both sides"
              " pinned (benchmarks/floor.py)", flush=True)
    print("(frames/s: deliveries summed over the consumers; lost: frames a consumer never got,"
          " over every round; latency: one-way, the ring busy-spinning, the buses one frame per"
          " message)")


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
    parser.add_argument("--publishing-only", action="store_true",
                        help="only the NATS publishing rows and their targets")
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
    results: dict[str, Figures] = {}
    if not options.publishing_only:
        measure_all(frames, options, results)
    nats: Publishing | None = None
    if not chosen(options, "nats"):
        pass  # left out by --only: no line
    elif installed("nats-server"):
        nats = nats_publishing(frames, options.rounds)
        print(f"{'NATS publish, bare nats-py':<30} {nats.rate(nats.bare):>14,.0f} frames/s"
              f" (asyncio, {BLOCK_FRAMES} frames per message)")
        print(f"{'NATS publish, ours (asyncio)':<30} {nats.rate(nats.ours_async):>14,.0f}"
              f" frames/s, {nats.ratio(nats.ours_async):.2f}x bare's time, CPU"
              f" {nats.ratio(nats.ours_async, cpu=True):.2f}x (the same bytes cut the same"
              " way, every frame checked, on the caller's loop; between the median rounds"
              f" {nats.rate(nats.bare) / nats.rate(nats.ours_async):.2f}x)")
        print(f"{'NATS publish, ours (blocking)':<30} {nats.rate(nats.ours_blocking):>14,.0f}"
              f" frames/s, {nats.ratio(nats.ours_blocking):.2f}x bare's time, CPU"
              f" {nats.ratio(nats.ours_blocking, cpu=True):.2f}x (checks on the caller's"
              " thread, publishing on the loop thread: the hand-over costs"
              f" {nats.hand_over_ns():+.0f} ns a frame against the asyncio producer)")
        print(f"{'NATS JetStream publish':<30} {nats.rate(nats.acknowledged):>14,.0f} frames/s"
              " (blocking producer, acknowledgements collected at flush)")
        if not options.publishing_only:
            found = nats_latencies(options.latency_frames, options.rate, not options.no_pin,
                                   options.rounds)
            for title, runs, what in [
                    ("bare nats-py", found.bare, "asyncio publisher and subscriber, one frame a"
                     " message, paced and pinned as our rows"),
                    ("ours (asyncio)", found.ours_async, "aio.connect's producer and consumer"
                     " on their loops, as bare's"),
                    ("ours (blocking)", found.ours_blocking, "connect's, as the NATS row: each"
                     " frame handed to the producer's loop thread, and from the consumer's")]:
                p50, p99, lost, cpu = found.median(runs)
                beside = "" if runs is found.bare else f", p50 {found.ratio(runs):.2f}x bare's"
                print(f"{'NATS latency, ' + title:<30} p50 {p50:.1f} us, p99 {p99:.1f} us,"
                      f" {lost:,} lost{beside}; CPU a frame: producer {cpu['producer']:.1f} us,"
                      f" consumer {cpu['consumer']:.1f} us ({what})")
            print(f"(NATS latency: {options.latency_frames:,} frames at {options.rate:,}/s, the"
                  f" three taking turns in each of {options.rounds} rounds, medians; x bare's:"
                  " each round's p50 against bare nats-py's in the same round, the median; CPU:"
                  " each process's, every thread's, the pacing's sleeps and spins included)")
        print("(bare's time: each round's time against bare nats-py's in the same round, the"
              " median over the rounds; CPU: the same for this process's CPU time)")
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
    if "nats" in results:
        targets.append(("NATS 1->1 delivered >= 1,500,000 frames/s", results["nats"].one,
                        ",.0f", results["nats"].one >= 1.5e6))
    if nats:
        targets += [("NATS publish time <= 1.2x bare nats-py", nats.ratio(nats.ours_async),
                     ".2f", nats.ratio(nats.ours_async) <= 1.2),
                    ("JetStream publish >= 200,000 frames/s", nats.rate(nats.acknowledged),
                     ",.0f", nats.rate(nats.acknowledged) >= 2e5)]
    if "redis" in results:
        targets.append(("Redis 1->1 delivered >= 500,000 frames/s", results["redis"].one,
                        ",.0f", results["redis"].one >= 5e5))
    for title, value, spec, met in targets:
        print(f"  {title:<44} {value:>14{spec}}   {verdict(met)}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
