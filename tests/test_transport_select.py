"""connect(domain, role, config=...) picks the domain's transport from the configuration: the
design's three migration stages switch domains without code changes, blocking and on asyncio
(asyncio's loop and uvloop's), with real relays, rings and servers."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alphapulse_codec as ap
from alphapulse_codec import aio
from alphapulse_codec.relay import aio as relay_aio
from alphapulse_codec.transport import (RingMismatchError, channel, load_config, nats,
                                        redis_streams, shm)
from alphapulse_codec.transport.aio import AsyncConsumer, AsyncProducer
from alphapulse_codec.wire.errors import (ConfigError, FieldValueError, RelayClosedError,
                                         RelayTimeoutError)
from bus_frames import GUARD, receive, split, trades
from frames import zeroed_frame
from relays import START_TIMEOUT, STOP_TIMEOUT, connectable
from servers import start_nats, start_redis

ROOT = Path(__file__).resolve().parent.parent
uvloop = pytest.importorskip("uvloop")


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def alerts(count: int) -> bytes:
    return b"".join(zeroed_frame(ap.StrategyAlert, sequence=i, source=5, timestamp=1)
                    for i in range(1, count + 1))


FRAMES = {"market_data": trades(1000), "signals": alerts(50)}


def carry(config, domain: str, frames: bytes) -> bytes:
    """The code that never changes: a consumer and a producer of `domain`, on whatever the
    configuration says carries it; the frames the consumer got."""
    with ap.connect(domain, "consumer", config=config) as consumer:
        with ap.connect(domain, "producer", config=config) as producer:
            assert producer.send_batch(frames) == len(split(frames))
            assert producer.flush() in ([], None)
        return receive(consumer, len(split(frames)))


def stage_files(directory: Path, nats_url: str, ring_mb: int = 1) -> dict[str, Path]:
    """The design's three stages for this test's runtime directory and NATS server."""
    texts = {
        "stage1": f"""\
alphapulse:
  transport: unix_socket
  market_data:
    path: {directory}/market_data.sock
  signals:
    path: {directory}/signals.sock
""",
        "stage2": f"""\
alphapulse:
  transport: mixed
  market_data:
    type: shared_memory
    path: {directory}/market_data.ring
    size_mb: {ring_mb}
  signals:
    type: unix_socket
    path: {directory}/signals.sock
""",
        "stage3": f"""\
alphapulse:
  transport: message_bus
  servers: ["{nats_url}"]
  market_data:
    capacity: 1000000
  signals:
    capacity: 100000
"""}
    paths = {}
    for name, text in texts.items():
        paths[name] = directory / f"{name}.yml"
        paths[name].write_text(text)
    return paths


def test_the_three_stages_switch_domains_without_code_changes(relays, runtime_dir,
                                                              nats_server):
    relays("market_data")
    relays("signals")
    files = stage_files(runtime_dir, nats_server.url)
    expected = {"stage1": {"market_data": "unix_socket", "signals": "unix_socket"},
                "stage2": {"market_data": "shared_memory", "signals": "unix_socket"},
                "stage3": {"market_data": "nats", "signals": "nats"}}
    for stage, path in files.items():
        config = load_config(path, runtime_dir=runtime_dir)
        for domain, frames in FRAMES.items():
            assert config.endpoints[domain].transport == expected[stage][domain]
            assert carry(path, domain, frames) == frames, (stage, domain)
    assert (runtime_dir / "market_data.ring").exists()  # stage 2 went through the ring


def test_each_transport_gives_its_own_client(runtime_dir, nats_server, redis_server):
    document = {"alphapulse": {
        "runtime_dir": str(runtime_dir),
        "market_data": {"transport": "shared_memory", "path": str(runtime_dir / "md.ring"),
                        "size_mb": 1},
        "signals": {"transport": "redis", "url": redis_server.url},
        "execution": {"transport": "nats", "servers": [nats_server.url]}}}
    config = load_config(document)
    for domain, module, own in (("market_data", shm, "Trade"),
                                ("signals", redis_streams, "RiskMetric"),
                                ("execution", nats, "Fill")):
        with ap.connect(domain, "producer", config=config) as producer:
            assert isinstance(producer, module.Producer)
        with ap.connect(domain, "consumer", config=config, types=[own]) as consumer:
            assert isinstance(consumer, module.Consumer)
        if domain != "market_data":  # another domain's type, refused on this transport too
            with pytest.raises(ap.FieldValueError, match=r"Trade is a market_data type \(1\), not"):
                ap.connect(domain, "consumer", config=config, types=["Trade"])
    assert carry(config, "signals", FRAMES["signals"]) == FRAMES["signals"]


def test_the_domain_policy_reaches_the_ring(runtime_dir):
    config = load_config({"execution": {"transport": "shared_memory", "size_mb": 1,
                                        "path": str(runtime_dir / "ex.ring")},
                          "market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")}},
                         runtime_dir=runtime_dir)
    with ap.connect("execution", "producer", config=config) as producer:
        assert producer.timeout == config.endpoints["execution"].policy.stuck_timeout
    with ap.connect("market_data", "producer", config=config) as producer:
        assert producer.timeout is None  # market data never waits for a consumer
    # a backpressure ring refuses to be opened as a lossy one: the policy is in the file
    with pytest.raises(RingMismatchError):
        shm.Consumer(runtime_dir / "ex.ring", size_mb=1, policy="lossy")


def test_a_consumer_subscribes_by_type_on_every_transport(runtime_dir):
    config = load_config({"market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")}},
                         runtime_dir=runtime_dir)
    quote = ap.Quote(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                     bid_price=1, ask_price=2, bid_size=3, ask_size=4, sequence=1,
                     timestamp=1, source=5)
    with ap.connect("market_data", "consumer", config=config, types=["Quote"]) as consumer, \
            ap.connect("market_data", "producer", config=config) as producer:
        producer.send_batch(trades(10))
        producer.send(quote)
        assert consumer.recv(timeout=GUARD).to_bytes() == quote.to_bytes()
        with pytest.raises(TimeoutError):
            consumer.recv(timeout=0.05)


def test_a_channel_domain_gets_the_process_channel_with_the_file_s_policy(runtime_dir):
    config = load_config({"market_data": {"transport": "channel", "capacity": 10}},
                         runtime_dir=runtime_dir)
    with ap.connect("market_data", "consumer", config=config, types=["Trade"]) as consumer, \
            ap.connect("market_data", "producer", config=config) as producer:
        sent = split(trades(25))
        for start in range(0, 25, 10):  # a batch may not be larger than the channel
            producer.send_batch(b"".join(sent[start:start + 10]))
        received = split(consumer.recv_bytes(timeout=1.0))
    # capacity 10 on a shedding domain: the consumer kept the newest, its gaps count the rest
    assert 0 < len(received) <= 10
    assert received == sent[25 - len(received):]
    assert sum(g.frames_lost for g in consumer.gaps) == 25 - len(received)


def sourced_configs(runtime_dir: Path, nats_url: str, redis_url: str) -> dict[str, dict]:
    """A domain of `signals` on every transport that crosses processes, and the channel."""
    return {
        "unix_socket": {"signals": {"transport": "unix_socket"}},
        "shared_memory": {"signals": {"transport": "shared_memory", "size_mb": 1,
                                      "path": str(runtime_dir / "signals.ring")}},
        "nats": {"signals": {"transport": "nats", "servers": [nats_url],
                             "subject_prefix": "sourced"}},
        "redis": {"signals": {"transport": "redis", "url": redis_url,
                              "stream_prefix": "sourced"}},
        "channel": {"signals": {"transport": "channel", "capacity": 100}},
    }


@pytest.mark.parametrize("transport", ["unix_socket", "shared_memory", "nats", "redis",
                                       "channel"])
def test_sequence_auto_numbers_frames_per_source_on_every_transport(
        transport, relays, runtime_dir, nats_server, redis_server):
    if transport == "unix_socket":
        relays("signals")
    config = load_config(sourced_configs(runtime_dir, nats_server.url,
                                         redis_server.url)[transport], runtime_dir=runtime_dir)
    kraken, binance = ap.SourceType.KrakenCollector, ap.SourceType.BinanceCollector
    alert = zeroed_frame(ap.StrategyAlert, sequence=900, source=kraken, timestamp=1)
    theirs = alerts(3)  # source 5, sequences 1-3, written over with the producer's numbers
    theirs_before = bytes(theirs)
    with ap.connect("signals", "consumer", config=config) as consumer, \
            ap.connect("signals", "producer", config=config, source=binance,
                       sequence="auto") as producer:
        assert producer.next_sequence() == 1 and producer.source == binance
        producer.send(alert)
        assert producer.send_batch(theirs + alert) == 4
        producer.send(ap.decode(alert))
        assert producer.next_sequence(kraken) == 4
        assert producer.next_sequence(5) == 4
        with pytest.raises(FieldValueError, match="send takes one frame, got 2"):
            producer.send(alert + alert)
        assert producer.next_sequence(kraken) == 4  # a refused send takes no number
        producer.flush()
        received = [ap.decode(frame) for frame in split(receive(consumer, 6))]
    assert theirs == theirs_before
    assert [(m.header.source, m.header.sequence) for m in received] == \
        [(kraken, 1), (5, 1), (5, 2), (5, 3), (kraken, 2), (kraken, 3)]
    assert all(type(m) is ap.StrategyAlert for m in received)  # decode checked every CRC


def test_source_and_sequence_are_a_producer_s_on_every_transport(runtime_dir):
    config = load_config({"market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")}},
                         runtime_dir=runtime_dir)
    with pytest.raises(FieldValueError, match="source and sequence belong to a producer"):
        ap.connect("market_data", "consumer", config=config, sequence="auto")
    with pytest.raises(FieldValueError, match="sequence: 'yes' is not None or 'auto'"):
        ap.connect("market_data", "producer", config=config, sequence="yes")
    with pytest.raises(FieldValueError, match="sources: 300 is not a number from 0 to 255"):
        ap.connect("market_data", "producer", config=config, source=300)
    with ap.connect("market_data", "producer", config=config, source="KrakenCollector") as producer, \
            pytest.raises(FieldValueError, match="connect with sequence='auto'"):
        producer.next_sequence()


def test_relay_keywords_are_refused_elsewhere(runtime_dir):
    config = load_config({"market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")}},
                         runtime_dir=runtime_dir)
    with pytest.raises(FieldValueError, match="reconnect: a relay client's keyword;"
                                              " market_data is on shared_memory"):
        ap.connect("market_data", "producer", config=config, reconnect=True)
    with pytest.raises(FieldValueError, match="types and sources subscribe a consumer"):
        ap.connect("market_data", "producer", config=config, types=["Trade"])
    with pytest.raises(FieldValueError, match="role: 'reader'"):
        ap.connect("market_data", "reader", config=config)
    with pytest.raises(FieldValueError, match="domain: 'orders'"):
        ap.connect("orders", "consumer", config=config)


def test_a_keyword_of_another_transport_is_refused_naming_it(run, runtime_dir):
    """A Redis consumer's group asked of a ring or a channel domain: the key and the transport
    named, blocking and on asyncio, rather than Python's TypeError naming neither."""
    config = load_config({"market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")},
                          "signals": {"transport": "channel"}}, runtime_dir=runtime_dir)
    with pytest.raises(FieldValueError, match=r"group: not a keyword of a shared_memory consumer"
                                              r" \(market_data is on shared_memory\)"):
        ap.connect("market_data", "consumer", config=config, group="risk")
    with pytest.raises(FieldValueError, match="group: not a keyword of a channel consumer"):
        ap.connect("signals", "consumer", config=config, group="risk")

    async def scenario():
        with pytest.raises(FieldValueError, match="start_sequence: not a keyword of a"
                                                  " channel producer"):
            await aio.connect("signals", "producer", config=config, start_sequence=1)
        with pytest.raises(FieldValueError, match="group: not a keyword of a shared_memory"):
            await aio.connect("market_data", "consumer", config=config, group="risk")

    run(scenario())


def test_a_config_of_no_known_kind_is_refused_naming_it(run):
    """Neither a file, a document, nor a configuration object: refused by the argument's name,
    blocking and on asyncio, for a producer and a consumer."""
    expected = ("^config: expected a YAML file's path, a document read from one \\(a mapping\\),"
                " a TransportsConfig, an Endpoint, a RelaysConfig or a DomainPolicy, got {}$")
    for wrong in (42, [("market_data", None)], b"transports.yml"):
        for role in ("producer", "consumer"):
            with pytest.raises(FieldValueError,
                               match=expected.format(type(wrong).__name__)) as refused:
                ap.connect("market_data", role, config=wrong)
            assert refused.value.field == "config"

    async def scenario():
        with pytest.raises(FieldValueError, match=expected.format("int")):
            await aio.connect("market_data", "consumer", config=42)

    run(scenario())


def test_a_bad_file_is_refused_by_connect(runtime_dir):
    path = runtime_dir / "bad.yml"
    path.write_text("alphapulse:\n  market_data:\n    transport: pigeon\n")
    with pytest.raises(ConfigError, match=r"line 3: alphapulse.market_data.transport: unknown"):
        ap.connect("market_data", "consumer", config=path)


def test_relay_configurations_still_reach_the_relays(relays, runtime_dir):
    relays("signals")
    relay_config = ap.load_config({}, runtime_dir=runtime_dir)  # the relays' own
    for config in (None, relay_config, relay_config.policies,
                   relay_config.policies["signals"]):
        with ap.connect("signals", "consumer", config=config, runtime_dir=runtime_dir) as c:
            assert isinstance(c, ap.Consumer)


# ---- asyncio and uvloop -----------------------------------------------------------------------

@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Runs a coroutine to its end on the loop of the parameter."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run_on_loop(coroutine):
        with asyncio.Runner(loop_factory=factory) as runner:
            if request.param == "uvloop":
                assert isinstance(runner.get_loop(), uvloop.Loop)
            return runner.run(coroutine)
    return run_on_loop


async def carry_async(config, domain: str, frames: bytes) -> bytes:
    """`carry` awaited: the same code on every transport."""
    count = len(split(frames))
    async with await aio.connect(domain, "consumer", config=config) as consumer:
        async with await aio.connect(domain, "producer", config=config) as producer:
            assert await producer.send_batch(frames) == count
            await producer.flush()
        first = await consumer.recv(timeout=GUARD)  # one message, then the rest as bytes
        got = bytearray(first.to_bytes())
        while len(split(got)) < count:
            data = await consumer.recv_bytes(timeout=GUARD)
            assert data, "frames missing"
            got += data
        with pytest.raises(RelayTimeoutError):
            await consumer.recv(timeout=0.05)
        return bytes(got)


def test_aio_over_every_stage(run, relays, runtime_dir, nats_server):
    relays("market_data")
    relays("signals")
    for stage, path in stage_files(runtime_dir, nats_server.url).items():
        for domain, frames in FRAMES.items():
            assert run(carry_async(path, domain, frames)) == frames, (stage, domain)


@pytest.mark.parametrize("transport", ["nats", "shared_memory"])
def test_aio_producers_number_frames_per_source(run, transport, runtime_dir, nats_server,
                                                redis_server):
    config = load_config(sourced_configs(runtime_dir, nats_server.url,
                                         redis_server.url)[transport], runtime_dir=runtime_dir)
    kraken = ap.SourceType.KrakenCollector

    async def scenario():
        async with await aio.connect("signals", "consumer", config=config) as consumer:
            async with await aio.connect("signals", "producer", config=config, source=kraken,
                                         sequence="auto") as producer:
                await producer.send(zeroed_frame(ap.StrategyAlert, sequence=9, source=kraken,
                                                 timestamp=1))
                assert await producer.send_batch(alerts(2)) == 2
                assert producer.next_sequence() == 2 and producer.next_sequence(5) == 3
                await producer.flush()
            return [(m.header.source, m.header.sequence)
                    for m in [await consumer.recv(timeout=GUARD) for _ in range(3)]]

    assert run(scenario()) == [(kraken, 1), (5, 1), (5, 2)]


def test_aio_over_redis(run, runtime_dir, redis_server):
    config = load_config({"transport": "redis", "url": redis_server.url},
                         runtime_dir=runtime_dir)
    assert run(carry_async(config, "signals", FRAMES["signals"])) == FRAMES["signals"]


def test_aio_over_a_backpressure_ring(run, runtime_dir):
    config = load_config({"execution": {"transport": "shared_memory", "size_mb": 1,
                                        "path": str(runtime_dir / "ex.ring")}},
                         runtime_dir=runtime_dir)

    async def scenario():
        async with await aio.connect("execution", "producer", config=config) as producer:
            assert not producer.inline  # its sends may wait: on the worker thread
        return await carry_async(config, "execution", FRAMES["market_data"][:64 * 100])

    assert run(scenario()) == FRAMES["market_data"][:64 * 100]


def test_aio_clients_of_a_ring(run, runtime_dir):
    config = load_config({"market_data": {"transport": "shared_memory", "size_mb": 1,
                                          "path": str(runtime_dir / "md.ring")}},
                         runtime_dir=runtime_dir)

    async def scenario():
        consumer = await aio.connect("market_data", "consumer", config=config)
        producer = await aio.connect("market_data", "producer", config=config)
        assert isinstance(consumer, AsyncConsumer) and isinstance(producer, AsyncProducer)
        assert producer.inline  # a lossy ring never makes a producer wait: no worker thread
        # a wait the caller gave up on keeps what it read for the next call
        waiting = asyncio.ensure_future(consumer.recv_batch(timeout=GUARD))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await producer.send_batch(trades(3))
        batch = await consumer.recv_batch(timeout=GUARD)
        got = len(batch) + len(await consumer.recv_batch(timeout=0.2))
        messages = []
        await producer.send_batch(trades(5, first=4))
        async for message in consumer:
            messages.append(message.header.sequence)
            if len(messages) == 5:
                break
        assert consumer.gaps == []
        await producer.close()
        await consumer.close()
        assert consumer.closed and producer.closed
        with pytest.raises(RelayClosedError, match="md.ring, 1 MiB, lossy: receive on a closed"):
            await consumer.recv(timeout=0.01)
        with pytest.raises(RelayClosedError, match="md.ring, 1 MiB, lossy: send on a closed"):
            await producer.send_batch(trades(1))
        return got, messages

    assert run(scenario()) == (3, [4, 5, 6, 7, 8])


def test_aio_channel_and_tcp_domains_get_their_own_asyncio_clients(run, relays, runtime_dir):
    """No worker thread between the loop and a client that can wait on the loop itself: the
    channel's tasks are woken by its producers, the relay's TCP socket is the loop's to watch;
    and a channel consumer reads the producer's own block, not a copy."""
    relay = relays("signals", ("--tcp", "127.0.0.1:0"))
    config = load_config({"market_data": {"transport": "channel"}, "signals": {
        "transport": "tcp", "port": relay.address[1]}}, runtime_dir=runtime_dir)
    block = trades(1024)

    async def scenario():
        async with await aio.connect("market_data", "consumer", config=config,
                                     channel="aio-own") as reader, \
                await aio.connect("market_data", "producer", config=config,
                                  channel="aio-own") as writer:
            assert isinstance(reader, channel.AsyncConsumer)
            assert isinstance(writer, channel.AsyncProducer)
            await writer.send_batch(block)
            assert await reader.recv_bytes(timeout=GUARD) is block
        async with await aio.connect("signals", "consumer", config=config) as consumer, \
                await aio.connect("signals", "producer", config=config) as producer:
            assert isinstance(consumer, relay_aio.AsyncConsumer)
            assert isinstance(producer, relay_aio.AsyncProducer)
            assert consumer.where == f"tcp://127.0.0.1:{relay.address[1]}"
            await producer.send_batch(FRAMES["signals"])
            got = await consumer.recv_bytes(timeout=GUARD)
            while len(got) < len(FRAMES["signals"]):
                got += await consumer.recv_bytes(timeout=GUARD)
        with pytest.raises(RelayClosedError, match=f"tcp://127.0.0.1:{relay.address[1]}: send"):
            await producer.send_batch(FRAMES["signals"])
        return got

    assert run(scenario()) == FRAMES["signals"]


# ---- the live demo over each stage ------------------------------------------------------------

def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", "demo", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=180, check=False)


def test_the_three_stages_switch_the_running_demo_s_domains(runtime_dir, nats_server):
    """The demo's services (producers, recorder, consumer: processes of their own, their code
    the same) over each stage's file: everything sent arrives, no gaps, the recording matches.
    The ring of stage 2, created by the demo's services, is removed at its end, and said so."""
    files = stage_files(runtime_dir, nats_server.url, ring_mb=16)
    ring = runtime_dir / "market_data.ring"
    shown = {"stage1": "market_data on unix_socket, signals on unix_socket",
             "stage2": "market_data on shared_memory, signals on unix_socket",
             "stage3": "market_data on nats, signals on nats, execution on nats, system on nats"}
    for stage, path in files.items():
        done = demo("--relays", "--seconds", "1", "--config", str(path))
        assert done.returncode == 0, (stage, done.stdout, done.stderr)
        out = " ".join(done.stdout.split())  # rich wraps lines at its width
        assert f"domains: {shown[stage]}" in out, (stage, out)
        assert "gaps: none" in out and "every frame sent arrived" in out, (stage, out)
        removed = f"removed the ring {ring} the demo created"
        assert (removed in out) == (stage == "stage2"), (stage, out)
        assert not ring.exists()


def test_the_demo_leaves_a_ring_it_did_not_create(runtime_dir):
    """A ring file there before the demo (another system's, an earlier run's) is not the
    demo's to remove: its services use it, and it stays."""
    ring = runtime_dir / "market_data.ring"
    shm.Producer(ring, size_mb=16).close()
    path = stage_files(runtime_dir, "nats://127.0.0.1:4222", ring_mb=16)["stage2"]
    done = demo("--relays", "--seconds", "1", "--config", str(path))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "every frame sent arrived" in done.stdout and "removed the ring" not in done.stdout
    assert ring.exists()


def test_the_demo_stops_with_one_line_when_a_service_cannot_start(runtime_dir):
    """A ring left by an earlier run with another size: the demo's consumer refuses it; the
    demo says so in one line and stops every process it started (its relays' supervisor
    killed outright left its relays holding its pipes open, and the demo waited on them)."""
    ring = runtime_dir / "left.ring"
    shm.Producer(ring, size_mb=1).close()
    path = runtime_dir / "stage2.yml"
    path.write_text(f"alphapulse:\n  transport: mixed\n  market_data:\n    type: shared_memory\n"
                    f"    path: {ring}\n    size_mb: 2\n")
    done = demo("--relays", "--seconds", "1", "--config", str(path))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("alphapulse: error: the consumer did not start (exit 1):"
                                  " alphapulse_codec.transport.errors.RingMismatchError:")
    assert "remove it or ask for its size" in done.stderr
    left = subprocess.run(["pgrep", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert left.stdout == ""  # no relay of the demo's still running


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_demo_and_everything_it_started(stop):
    """kill, timeout (its SIGTERM to the demo, then again to its process group) or Ctrl-C while
    the services run: the demo stops them, removes its runtime directory and says so."""
    demo_process = subprocess.Popen(
        [sys.executable, "-m", "alphapulse_codec", "demo", "--relays", "--seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert demo_process.stdout is not None
        said = demo_process.stdout.readline()  # "relays: ... in /tmp/alphapulse-demo-..."
        runtime_dir = Path(said.split()[-1])
        assert runtime_dir.name.startswith("alphapulse-demo-") and runtime_dir.is_dir(), said
        assert demo_process.stdout.readline().startswith("running:")
        assert subprocess.run(["pgrep", "-f", str(runtime_dir)], capture_output=True,
                              check=False).stdout  # its services run
        demo_process.send_signal(stop)
        demo_process.send_signal(stop)
        out, err = demo_process.communicate(timeout=STOP_TIMEOUT * 3)
    finally:
        demo_process.kill()
    assert demo_process.returncode == 128 + stop, err
    assert err.splitlines() == [f"alphapulse: demo stopped by {stop.name}: the processes it"
                                f" started stopped, {runtime_dir} removed"]
    assert not runtime_dir.exists()
    left = subprocess.run(["pgrep", "-f", str(runtime_dir)], capture_output=True, text=True,
                          check=False)
    assert left.stdout == ""


def test_the_demo_runs_its_producers_for_longer_than_its_stop_timeout():
    """--seconds past the 30 s the demo gives a stopping process: its producers run them out
    and the checks pass (they were killed at 30 s, and the demo failed)."""
    done = demo("--relays", "--seconds", "32")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "every frame sent arrived" in done.stdout


def test_replay_and_record_reach_a_domain_off_the_relays(runtime_dir):
    path = runtime_dir / "ring.yml"
    path.write_text(f"alphapulse:\n  market_data:\n    transport: shared_memory\n"
                    f"    path: {runtime_dir}/md.ring\n    size_mb: 1\n")
    capture = runtime_dir / "in.bin"
    capture.write_bytes(FRAMES["market_data"])
    with ap.connect("market_data", "consumer", config=path) as consumer:
        done = subprocess.run([sys.executable, "-m", "alphapulse_codec", "replay", str(capture),
                               "--domain", "market_data", "--config", str(path), "--max"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "replayed 1,000 frames to market_data" in done.stderr
        assert receive(consumer, 1000) == FRAMES["market_data"]
    recorded = runtime_dir / "out.bin"
    recorder = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "record", "--domain",
                                 "market_data", "--config", str(path), "-o", str(recorded),
                                 "--frames", "1000"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert recorder.stderr is not None
        assert recorder.stderr.readline().startswith("recording market_data to")
        with ap.connect("market_data", "producer", config=path) as producer:
            producer.send_batch(FRAMES["market_data"])
        assert recorder.wait(timeout=60) == 0
    finally:
        recorder.kill()
    assert recorded.read_bytes() == FRAMES["market_data"]


def test_the_demo_refuses_a_channel_domain_and_live_with_a_config(runtime_dir):
    path = runtime_dir / "channel.yml"
    path.write_text("alphapulse:\n  market_data:\n    transport: channel\n")
    done = demo("--relays", "--config", str(path))
    assert done.returncode == 2
    assert "market_data is on channel, which carries frames within one process" in done.stderr
    done = demo("--live", "--config", str(path))
    assert done.returncode == 2 and "--live watches the relays" in done.stderr
    assert "Traceback" not in done.stderr


# ---- alphapulse config check ------------------------------------------------------------------

def config_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", "config", "check", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def rows(output: str) -> dict[str, str]:
    return {line.split()[0]: " ".join(line.split()[1:]) for line in output.splitlines()
            if line.split() and line.split()[0] in ("market_data", "signals", "execution",
                                                    "system")}


def test_config_check_prints_each_domain_transport_and_where(runtime_dir):
    files = stage_files(runtime_dir, "nats://bus1:4222")
    run = config_check(str(files["stage2"]), "--runtime-dir", str(runtime_dir))
    assert run.returncode == 0 and run.stderr == ""
    printed = rows(run.stdout)
    assert printed["market_data"].startswith(
        f"shared_memory ring {runtime_dir}/market_data.ring, 1 MiB, lossy 1,000,000")
    assert printed["signals"].startswith(f"unix_socket {runtime_dir}/signals.sock 100,000")
    assert printed["execution"].startswith(f"unix_socket {runtime_dir}/execution.sock")
    run = config_check(str(files["stage3"]), "--runtime-dir", str(runtime_dir))
    printed = rows(run.stdout)
    assert printed["market_data"].startswith(
        "nats nats://bus1:4222, subjects alphapulse.market_data.*, capacity 1,000,000 (unused:")
    assert printed["system"].startswith("nats nats://bus1:4222, subjects alphapulse.system.*")


@pytest.mark.parametrize("name", ["stage1_unix_sockets.yml", "stage2_mixed.yml",
                                  "stage3_message_bus.yml", "transport_per_domain.yml",
                                  "multi_machine.yml", "single_machine.yml"])
def test_config_check_accepts_the_design_examples(name, runtime_dir):
    run = config_check(str(ROOT / "tests" / "data" / "design" / name), "--runtime-dir",
                       str(runtime_dir))
    assert run.returncode == 0 and run.stderr == ""
    assert set(rows(run.stdout)) == {"market_data", "signals", "execution", "system"}


def test_config_check_prints_redis_and_tcp(runtime_dir):
    path = runtime_dir / "t.yml"
    path.write_text("alphapulse:\n  signals:\n    transport: redis\n    url: redis://bus:6379\n"
                    "  execution:\n    transport: tcp\n    host: ::1\n    port: 7400\n")
    run = config_check(str(path), "--runtime-dir", str(runtime_dir))
    printed = rows(run.stdout)
    assert printed["signals"].startswith("redis redis://bus:6379, stream alphapulse:signals")
    assert printed["execution"].startswith("tcp [::1]:7400 10,000")


def test_config_check_refuses_a_bad_transport_file(runtime_dir):
    path = runtime_dir / "bad.yml"
    path.write_text("alphapulse:\n  transport: mixed\n  market_data:\n    type: shared_memory\n"
                    "    size_mb: 3\n")
    run = config_check(str(path), "--runtime-dir", str(runtime_dir))
    assert run.returncode == 2 and run.stdout == ""
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith(f"alphapulse: error: {path}, line 5:"
                                 " alphapulse.market_data.size_mb: 3, expected a power of two")
    path.write_text("alphapulse:\n  market_data:\n    transport: shared_memory\n"
                    "    size_mb: .inf\n")
    run = config_check(str(path), "--runtime-dir", str(runtime_dir))
    assert run.returncode == 2 and run.stdout == ""
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith(f"alphapulse: error: {path}, line 4:"
                                 " alphapulse.market_data.size_mb: inf, expected a power of two")


def test_the_relay_command_runs_no_relay_for_a_domain_off_the_relays(runtime_dir):
    path = stage_files(runtime_dir, "nats://bus1:4222")["stage2"]
    run = subprocess.run([sys.executable, "-m", "alphapulse_codec", "relay", "--config",
                          str(path), "--domain", "market_data"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr == (f"alphapulse: error: {path}: market_data is on shared_memory, not on"
                          " a relay\n")


def test_the_relay_command_runs_the_relays_of_the_unix_socket_domains(runtime_dir):
    path = stage_files(runtime_dir, "nats://bus1:4222")["stage2"]
    process = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "relay", "--config",
                                str(path), "--runtime-dir", str(runtime_dir)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    on_relays = ("signals", "execution", "system")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(connectable(runtime_dir / f"{d}.sock") for d in on_relays):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.05)
        # the relays run side by side with the ring: market data has no relay
        assert not (runtime_dir / "market_data.sock").exists()
        assert carry(path, "signals", FRAMES["signals"]) == FRAMES["signals"]
        assert carry(path, "market_data", FRAMES["market_data"]) == FRAMES["market_data"]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_tcp_domain_runs_its_relay_and_is_reached_by_the_same_file(relays, runtime_dir,
                                                                   tmp_path, tls):
    from servers import free_port
    from test_relay_tcp import self_signed

    lines = ["alphapulse:", f"  runtime_dir: {runtime_dir}", "  market_data:",
             "    transport: tcp", "    host: 127.0.0.1", f"    port: {free_port()}"]
    if tls:
        certificate, key = self_signed(tmp_path, "relay")
        lines += [f"    certfile: {certificate}", f"    keyfile: {key}"]
    config = tmp_path / "tcp.yml"
    config.write_text("\n".join(lines) + "\n")
    relay = relays("market_data", ("--config", str(config)))
    # the relay's first line names its TCP listener, as --tcp would
    relay.address = relay._tcp_address(time.monotonic() + START_TIMEOUT)
    assert relay.stderr.count("tls://" if tls else "tcp://") == 1
    sent = trades(2000)
    with ap.connect("market_data", "consumer", config=config) as consumer, \
            ap.connect("market_data", "producer", config=config) as producer:
        assert producer.send_batch(sent) == 2000
        assert receive(consumer, 2000) == sent
    assert consumer.gaps == []
