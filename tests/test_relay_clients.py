"""The relays' clients with real relay processes: configuration forms, the asyncio clients on
asyncio and uvloop, one consumer over several relays, record and replay, top, the live demo."""
from __future__ import annotations

import asyncio
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

import alphapulse_codec as ap
from alphapulse_codec import aio
from alphapulse_codec.relay import connect, default_policy, load_config
from alphapulse_codec.relay.client import relay_stats, spin_ns
from alphapulse_codec.samples.session import build_session
from alphapulse_codec.wire.enums import GapReason
from relays import ROOT, connectable
from test_relay import RECEIVE_TIMEOUT, receive_bytes, trades
from test_relay_failures import wait_for
from frames import zeroed

uvloop = pytest.importorskip("uvloop")
FAST = ap.Backoff(first=0.02, longest=0.2, give_up_after=60.0)


@pytest.fixture(params=["asyncio", "uvloop"])
def run_async(request):
    """Runs a coroutine to its end on the loop of the parameter, as uvloop's own tests do."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run(coroutine):
        with asyncio.Runner(loop_factory=factory) as runner:
            if request.param == "uvloop":
                assert isinstance(runner.get_loop(), uvloop.Loop)
            return runner.run(coroutine)
    return run


def cli(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the package of this tree, from any cwd
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", *arguments], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


def subscribed(runtime_dir: Path, domain: str, name: str) -> bool:
    return any(c["name"] == name for c in
               relay_stats(domain, runtime_dir=runtime_dir)["connections"])


# ---- configuration --------------------------------------------------------------------

def test_connect_takes_a_yaml_file_a_relays_config_or_its_policies(runtime_dir, tmp_path):
    config = tmp_path / "relays.yml"
    config.write_text(f"alphapulse:\n  runtime_dir: {runtime_dir}\n"
                      "  market_data:\n    max_queue_size: 5000\n")
    relay = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "relay", "--domain",
                              "market_data", "--config", str(config)], cwd=ROOT,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: connectable(runtime_dir / "market_data.sock"), "the relay listens")
        loaded = load_config(config)
        for form in (str(config), config, loaded, loaded.policies):
            sent = trades(50)
            with connect("market_data", "consumer", config=form) as consumer, \
                    connect("market_data", "producer", config=form) as producer:
                producer.send_batch(sent)
                assert receive_bytes(consumer, len(sent)) == sent
        stats = cli("relay", "stats", "--config", str(config), "--domain", "market_data",
                    "--json")
        assert stats.returncode == 0, stats.stderr
        assert f'"path": "{runtime_dir}/market_data.sock"' in stats.stdout
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=30) == 0


def test_a_config_of_the_wrong_kind_is_refused_by_name():
    with pytest.raises(ap.FieldValueError, match="YAML file, a RelaysConfig"):
        connect("market_data", "consumer", config=42)


def test_the_relay_command_refuses_a_bad_config_in_one_line(tmp_path):
    config = tmp_path / "relays.yml"
    config.write_text("alphapulse:\n  execution:\n    circuit_breaker: -1\n")
    done = cli("relay", "--config", str(config))
    assert done.returncode == 2
    assert "line 3: alphapulse.execution.circuit_breaker" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# ---- asyncio clients ------------------------------------------------------------------

def test_batch_bytes_gathers_sends_until_full_flushed_or_closed(runtime_dir, relays):
    relays("market_data")
    sent = trades(40)
    frame = [sent[i:i + 64] for i in range(0, len(sent), 64)]
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        producer = connect("market_data", "producer", runtime_dir=runtime_dir,
                           batch_bytes=1000)
        for one in frame[:15]:  # 960 bytes: under batch_bytes, nothing written yet
            producer.send(one)
        assert consumer.recv_bytes(timeout=0.2) == b""
        producer.send(frame[15])  # 1,024 bytes: written at once
        assert receive_bytes(consumer, 16 * 64) == b"".join(frame[:16])
        assert producer.send_batch(b"".join(frame[16:20])) == 4
        assert producer.flush() == []
        assert receive_bytes(consumer, 4 * 64) == b"".join(frame[16:20])
        producer.send_batch(b"".join(frame[20:30]))
        producer.close()  # what was gathered goes before the connection closes
        assert receive_bytes(consumer, 10 * 64) == b"".join(frame[20:30])
        with connect("market_data", "producer", runtime_dir=runtime_dir,
                     batch_bytes=1 << 20) as gathering:
            gathering.send_batch(b"".join(frame[30:]))
        assert receive_bytes(consumer, 10 * 64) == b"".join(frame[30:])
        assert consumer.recv_bytes(timeout=0.05) == b""


def process_state(pid: int) -> str:
    """R (running or runnable), S (asleep in the kernel)... from /proc/PID/stat."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")
def test_busy_poll_keeps_the_relay_awake_after_frames_then_lets_it_sleep(runtime_dir, relays):
    relay = relays("market_data", busy_poll_us=1_000_000)
    policy = replace(default_policy("market_data", runtime_dir), busy_poll_us=1_000_000)
    sent = trades(300)
    wait_for(lambda: process_state(relay.process.pid) == "S", "the idle relay sleeps")
    with connect("market_data", "consumer", config=policy) as consumer, \
            connect("market_data", "producer", config=policy) as producer:
        for start in range(0, len(sent), 64):
            producer.send(sent[start:start + 64])
        assert receive_bytes(consumer, len(sent)) == sent
        assert process_state(relay.process.pid) == "R"  # looking at its sockets, not asleep
        assert consumer.recv_bytes(timeout=0.01) == b""
        wait_for(lambda: process_state(relay.process.pid) == "S",
                 "the relay sleeps once nothing came for busy_poll_us")
        producer.send(sent[:64])
        assert receive_bytes(consumer, 64) == sent[:64]
        producer.send(sent[64:128])
        assert consumer.recv(timeout=math.inf).header.sequence == 2  # no bound on the wait
        with pytest.raises(ap.FieldValueError, match="timeout: nan, expected seconds or None"):
            consumer.recv(timeout=math.nan)
        producer.send(sent[128:192])
        assert receive_bytes(consumer, 64) == sent[128:192]
        assert process_state(relay.process.pid) == "R"
        assert relay.terminate() == 0  # a SIGTERM stops a relay that is polling, not asleep
        assert "market_data: stopped" in relay.stderr


@pytest.mark.parametrize("busy_us, timeout, spun_us", [
    (1000, None, 1000), (1000, math.inf, 1000), (1000, 5.0, 1000), (1000, 0.0002, 200),
    (1000, 0, 0), (1000, -1.0, 0), (0, None, 0), (0, 0.5, 0)])
def test_a_consumer_polls_no_longer_than_its_timeout(busy_us, timeout, spun_us):
    assert spin_ns(busy_us * 1000, timeout) == spun_us * 1000


def test_batch_bytes_is_a_producer_s_count(runtime_dir, relays):
    relays("market_data")
    with pytest.raises(ap.FieldValueError, match=r"batch_bytes: -1, expected a count of bytes"):
        connect("market_data", "producer", runtime_dir=runtime_dir, batch_bytes=-1)
    with pytest.raises(ap.FieldValueError, match="batch_bytes gathers a producer's writes"):
        connect("market_data", "consumer", runtime_dir=runtime_dir, batch_bytes=4096)


def test_aio_clients_send_and_receive_as_the_blocking_ones(runtime_dir, relays, run_async):
    relays("market_data")
    sent = trades(2000)

    async def scenario():
        consumer = await aio.connect("market_data", "consumer", runtime_dir=runtime_dir,
                                     types=["Trade"])
        producer = await aio.connect("market_data", "producer", runtime_dir=runtime_dir)
        async with consumer, producer:
            await producer.send_batch(sent[:64 * 1000])
            for at in range(64 * 1000, len(sent), 64):
                await producer.send(sent[at:at + 64])
            assert await producer.flush() == []
            first = await consumer.recv(timeout=RECEIVE_TIMEOUT)
            batch = await consumer.recv_batch(max_frames=99, timeout=RECEIVE_TIMEOUT)
            received = bytearray(first.to_bytes())
            received += b"".join(batch.frame(ap.MessageType.Trade, row) for row in range(len(batch)))
            async for message in consumer:
                received += message.to_bytes()
                if len(received) == len(sent):
                    break
            with pytest.raises(ap.relay.client.RelayTimeoutError):
                await consumer.recv(timeout=0.05)
        return bytes(received), len(batch)

    received, batched = run_async(scenario())
    assert received == sent and 1 <= batched <= 99


def test_an_aio_producer_sends_a_batch_of_bytes_without_copying_what_is_left(
        runtime_dir, relays, run_async):
    relays("market_data")
    sent = trades(1 << 19)  # 32 MiB: many writes of what the socket's buffer takes at once

    async def scenario():
        producer = await aio.connect("market_data", "producer", runtime_dir=runtime_dir)
        async with producer:
            tracemalloc.start()
            try:
                assert await producer.send_batch(sent) == 1 << 19
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    # a copy of the bytes left after each partial write would take the batch's size again,
    # and time growing with the square of it
    peak, limit = run_async(scenario()), len(sent) // 8
    assert peak < limit, f"{peak:,} bytes allocated at the peak"


def test_closed_aio_clients_refuse_to_be_used_as_the_blocking_ones_do(runtime_dir, relays,
                                                                      run_async):
    relays("market_data")

    async def scenario():
        producer = await aio.connect("market_data", "producer", runtime_dir=runtime_dir)
        consumer = await aio.connect("market_data", "consumer", runtime_dir=runtime_dir)
        await producer.close()
        await consumer.close()
        for refused, use in (("send on a closed producer", lambda: producer.send(trades(1))),
                             ("send on a closed producer", lambda: producer.send_batch(trades(2))),
                             ("flush on a closed producer", producer.flush),
                             ("receive on a closed consumer", lambda: consumer.recv(timeout=None)),
                             ("receive on a closed consumer", consumer.recv_bytes),
                             ("receive on a closed consumer", consumer.recv_batch)):
            with pytest.raises(ap.RelayClosedError, match=refused):
                await use()

    run_async(scenario())


def test_an_empty_batch_writes_nothing_even_to_a_relay_gone(runtime_dir, relays):
    relay = relays("market_data")

    async def aio_send_nothing() -> int:
        producer = await aio.connect("market_data", "producer", runtime_dir=runtime_dir)
        async with producer:
            relay.kill()
            return await producer.send_batch(b"")

    assert asyncio.run(aio_send_nothing()) == 0
    relay = relays("market_data")
    with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        relay.kill()
        assert producer.send_batch(b"") == 0  # as the aio producer's: no write, nothing lost


def test_aio_clients_reconnect_after_a_relay_restart(runtime_dir, relays, run_async):
    relay = relays("execution")

    async def scenario():
        consumer = await aio.connect("execution", "consumer", runtime_dir=runtime_dir,
                                     reconnect=FAST)
        producer = await aio.connect("execution", "producer", runtime_dir=runtime_dir,
                                     source=ap.SourceType.ExecutionEngine, sequence="auto",
                                     reconnect=FAST)
        fill = zeroed(ap.Fill, client_order_id=1, last_quantity=1, source=ap.SourceType.ExecutionEngine)
        await producer.send(fill)
        before = await consumer.recv(timeout=RECEIVE_TIMEOUT)
        relay.kill()
        restarted = relays("execution")
        sequences = [before.header.sequence]
        # the consumer's reconnection and the producer's run side by side on the loop
        receiving = asyncio.create_task(consumer.recv(timeout=RECEIVE_TIMEOUT))
        while not consumer.reconnects:
            await asyncio.sleep(0.02)
        await producer.send(fill)
        after = await receiving
        sequences.append(after.header.sequence)
        assert await producer.finish() == []  # the relay judged both fills and refused none
        await consumer.close()
        return sequences, consumer.gaps, producer.reconnects, restarted

    sequences, gaps, producer_reconnects, restarted = run_async(scenario())
    assert sequences == [1, 2]  # the producer went on numbering, the new relay accepted it
    assert producer_reconnects == 1
    # the client cannot know whose frames went, nor how many: sequence jumps would tell
    assert [(g.reason, g.source, g.frames_lost) for g in gaps] == [
        (GapReason.RelayRestart, None, None)]
    assert restarted.process.poll() is None


# a backoff that would wait long before giving up: a receive must not wait with it
PATIENT = ap.Backoff(first=0.02, longest=0.2, give_up_after=30.0)


def test_a_receive_keeps_its_timeout_while_the_relay_is_away(runtime_dir, relays):
    relay = relays("market_data")
    sent = trades(3)
    with connect("market_data", "consumer", runtime_dir=runtime_dir, reconnect=PATIENT) as consumer:
        relay.kill()
        # the attempts to connect again go on between receives, each receive in its time
        for _ in range(3):
            with pytest.raises(ap.RelayTimeoutError):
                consumer.recv(timeout=0.1)
            assert consumer.recv_bytes(timeout=0.1) == b"" and not consumer.closed
        relays("market_data")
        wait_for(lambda: consumer.recv_bytes(timeout=0.1) == b"" and consumer.reconnects,
                 "the consumer connected again")
        with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(sent)
        assert receive_bytes(consumer, len(sent)) == sent
        assert [g.reason for g in consumer.gaps] == [GapReason.RelayRestart]
        consumer.close()
        assert consumer.closed


def test_a_consumer_closed_while_its_relay_is_away_stays_closed(runtime_dir, relays):
    relay = relays("market_data")
    consumer = connect("market_data", "consumer", runtime_dir=runtime_dir, reconnect=PATIENT)
    relay.kill()
    assert consumer.recv_bytes(timeout=0.1) == b""
    consumer.close()
    relays("market_data")
    assert consumer.closed
    with pytest.raises(ap.RelayClosedError, match="receive on a closed consumer"):
        consumer.recv(timeout=0.1)


def test_a_close_from_another_thread_ends_a_receive_waiting_for_its_relay_to_return(
        runtime_dir, relays):
    relay = relays("market_data")
    consumer = connect("market_data", "consumer", runtime_dir=runtime_dir, reconnect=PATIENT)
    relay.kill()
    ended: list[str] = []

    def receive() -> None:
        try:
            consumer.recv(timeout=30)
            ended.append("a message")
        except Exception as error:
            ended.append(type(error).__name__)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    time.sleep(0.3)  # in the attempts to reach the relay by now, most likely
    consumer.close()
    reader.join(10)  # a receive that went on trying would wait its 30 s, then time out
    assert ended == ["RelayClosedError"]


def test_an_aio_receive_keeps_its_timeout_while_the_relay_is_away(runtime_dir, relays, run_async):
    relay = relays("market_data")
    sent = trades(3)

    async def scenario():
        consumer = await aio.connect("market_data", "consumer", runtime_dir=runtime_dir,
                                     reconnect=PATIENT)
        relay.kill()
        for _ in range(3):
            with pytest.raises(ap.RelayTimeoutError):
                await consumer.recv(timeout=0.1)
            assert await consumer.recv_bytes(timeout=0.1) == b"" and not consumer.closed
        relays("market_data")
        while not consumer.reconnects:
            assert await consumer.recv_bytes(timeout=0.1) == b""
        producer = await aio.connect("market_data", "producer", runtime_dir=runtime_dir)
        await producer.send_batch(sent)
        await producer.finish()
        received = b""
        while len(received) < len(sent):
            received += await consumer.recv_bytes(timeout=RECEIVE_TIMEOUT)
        await consumer.close()
        return received, consumer.gaps

    received, gaps = run_async(scenario())
    assert received == sent
    assert [g.reason for g in gaps] == [GapReason.RelayRestart]


def test_an_aio_close_ends_a_receive_waiting_for_its_relay_to_return(runtime_dir, relays,
                                                                     run_async):
    relay = relays("market_data")

    async def scenario():
        consumer = await aio.connect("market_data", "consumer", runtime_dir=runtime_dir,
                                     reconnect=PATIENT)
        relay.kill()
        waiting = asyncio.ensure_future(consumer.recv(timeout=30))
        await asyncio.sleep(0.3)  # in the attempts to reach the relay by now, most likely
        await consumer.close()
        with pytest.raises(ap.RelayClosedError):
            await asyncio.wait_for(waiting, 10)  # not its 30 s

    run_async(scenario())


def test_aio_subscribe_many_reads_several_relays_from_a_dashboard_config(runtime_dir, relays,
                                                                         run_async):
    relays("market_data")
    relays("execution")
    dashboard = {"dashboard": {"subscriptions": {
        "market_data": {"message_types": ["Trade"]},
        "execution": {},
        "system": {"enabled": False}}}}
    quote = zeroed(ap.Quote, bid_price=1, ask_price=2, sequence=1).to_bytes()
    fill = zeroed(ap.Fill, client_order_id=7, sequence=1, source=ap.SourceType.ExecutionEngine)

    async def scenario():
        async with aio.subscribe_many(dashboard, runtime_dir=runtime_dir, name="board") as board:
            while set(board.status.values()) != {"up"}:
                await asyncio.sleep(0.02)
            with connect("market_data", "producer", runtime_dir=runtime_dir) as market, \
                    connect("execution", "producer", runtime_dir=runtime_dir) as execution:
                market.send_batch(quote + trades(3))
                execution.send(fill)
            seen = []
            async for domain, message in board:
                seen.append((domain, message.header.message_type))
                if len(seen) == 4:
                    break
            return seen, dict(board.status)

    seen, status = run_async(scenario())
    assert sorted(seen) == [("execution", ap.MessageType.Fill)] + [("market_data", ap.MessageType.Trade)] * 3
    assert status == {"market_data": "up", "execution": "up"}


# ---- several relays, blocking ---------------------------------------------------------

def test_subscribe_many_shows_a_relay_down_and_connects_when_it_comes(runtime_dir, relays):
    relays("market_data")
    with ap.subscribe_many([("market_data", None), ("signals", ["StrategyAlert"])],
                           runtime_dir=runtime_dir, backoff=FAST) as board:
        assert board.recv_bytes(timeout=0.2) == []
        assert board.status["market_data"] == "up"
        assert board.status["signals"].startswith("down: ")
        assert "no signals relay is running" in board.status["signals"]
        relays("signals")
        wait_for(lambda: board.recv_bytes(timeout=0.05) == [] and
                 board.status["signals"] == "up", "the signals relay is connected")
        alert = zeroed(ap.StrategyAlert, text="spread", sequence=1).to_bytes()
        with connect("signals", "producer", runtime_dir=runtime_dir) as signals, \
                connect("market_data", "producer", runtime_dir=runtime_dir) as market:
            signals.send(alert)
            market.send_batch(trades(2))
        got = sorted((domain, message.header.message_type)
                     for domain, message in (board.recv(timeout=RECEIVE_TIMEOUT)
                                             for _ in range(3)))
    assert got == [("market_data", ap.MessageType.Trade)] * 2 + [("signals", ap.MessageType.StrategyAlert)]


def test_subscribe_many_notes_a_relay_restart_as_a_gap(runtime_dir, relays):
    relay = relays("market_data")
    with ap.subscribe_many([("market_data", None)], runtime_dir=runtime_dir,
                           backoff=FAST) as board:
        wait_for(lambda: board.recv_bytes(timeout=0.05) == [] and
                 board.status["market_data"] == "up", "connected")
        relay.kill()
        wait_for(lambda: board.recv_bytes(timeout=0.05) == [] and
                 board.status["market_data"].startswith("down"), "seen down")
        relays("market_data")
        wait_for(lambda: board.recv_bytes(timeout=0.05) == [] and
                 board.status["market_data"] == "up", "connected again")
        with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(trades(5))
        (domain, data), = board.recv_bytes(timeout=RECEIVE_TIMEOUT)
        assert domain == "market_data" and data == trades(5)[:len(data)]
        assert [g.reason for g in board.gaps["market_data"]] == [GapReason.RelayRestart]


def test_subscribe_many_refuses_what_is_not_a_relay():
    for wrong in (42, b"dashboard.yml"):
        with pytest.raises(ap.FieldValueError, match="^config: expected a dashboard file's"
                           f" path, .*, got {type(wrong).__name__}$") as refused:
            ap.subscribe_many(wrong)
        assert refused.value.field == "config"
    with pytest.raises(ap.FieldValueError, match="domain"):
        ap.subscribe_many([("nowhere", None)])
    with pytest.raises(ap.FieldValueError, match="named twice"):
        ap.subscribe_many([("signals", None), ("signals", ["StrategyAlert"])])


# ---- record and replay ----------------------------------------------------------------

def test_record_writes_what_a_consumer_receives_as_a_capture(runtime_dir, relays, tmp_path):
    relays("market_data")
    capture = tmp_path / "md.bin"
    recorder = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "record", "--domain",
                                 "market_data", "--runtime-dir", str(runtime_dir), "-o",
                                 str(capture), "--frames", "1000"], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
    wait_for(lambda: subscribed(runtime_dir, "market_data", "alphapulse record"), "subscribed")
    sent = trades(1500)
    with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(sent)
    assert recorder.wait(timeout=60) == 0
    assert "recorded 1,000 frames" in recorder.stderr.read()
    assert capture.read_bytes() == sent[:64 * 1000]
    assert len(ap.decode_batch(capture.read_bytes())) == 1000
    stats = cli("stats", str(capture))
    assert stats.returncode == 0 and "1,000 frames" in stats.stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_finishes_the_recording_cleanly(runtime_dir, relays, tmp_path, stop):
    relays("market_data")
    capture = tmp_path / "md.bin"
    recorder = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "record", "--domain",
                                 "market_data", "--runtime-dir", str(runtime_dir), "-o",
                                 str(capture)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: subscribed(runtime_dir, "market_data", "alphapulse record"), "subscribed")
    sent = trades(300)
    with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(sent)
    # frames out count the recorder's welcome too: 301 once the 300 Trades were written to it
    wait_for(lambda: relay_stats("market_data", runtime_dir=runtime_dir)["frames_out"] >= 301,
             "the frames reached the recorder")
    assert not capture.exists()  # written whole at the end, or not at all
    recorder.send_signal(stop)
    assert recorder.wait(timeout=60) == 0
    assert capture.read_bytes() == sent
    assert list(tmp_path.iterdir()) == [capture]  # no temporary left beside it


def test_a_signal_finishes_a_recording_whose_relay_is_away(runtime_dir, relays, tmp_path):
    relay = relays("market_data")
    capture = tmp_path / "md.bin"
    recorder = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "record", "--domain",
                                 "market_data", "--runtime-dir", str(runtime_dir), "-o",
                                 str(capture)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: subscribed(runtime_dir, "market_data", "alphapulse record"), "subscribed")
        sent = trades(300)
        with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(sent)
        wait_for(lambda: relay_stats("market_data", runtime_dir=runtime_dir)["frames_out"] >= 301,
                 "the frames reached the recorder")
        relay.kill()  # for good: the recorder tries to connect again, without end
        recorder.send_signal(signal.SIGINT)
        _, err = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    assert recorder.returncode == 0, err
    assert capture.read_bytes() == sent
    assert "recorded 300 frames" in err and "relay restarts: 1" in err


@pytest.mark.parametrize("pace", [["--max"], ["--rate", "5000"], ["--speed", "1000"]])
def test_replay_feeds_a_relay_with_the_capture(runtime_dir, relays, tmp_path, pace):
    relays("market_data")
    session = build_session(400)
    capture = tmp_path / "session.bin"
    capture.write_bytes(b"".join(session))
    market = b"".join(f for f in session if 1 <= f[4] <= 19)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        done = cli("replay", str(capture), "--domain", "market_data", "--runtime-dir",
                   str(runtime_dir), *pace)
        assert done.returncode == 0, done.stderr
        assert receive_bytes(consumer, len(market)) == market
    skipped = len(session) - market.count(b"\xef\xbe\xad\xde")
    assert f"skipped {skipped:,} of other domains" in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_replay_waiting_for_a_frame_s_time(runtime_dir, relays, tmp_path, stop):
    relays("market_data")
    first, later = trades(2)[:64], bytearray(trades(2)[64:])
    hour_later = ap.decode(bytes(later)).replace(timestamp=ap.decode(first).header.timestamp
                                                 + 3600 * 10**9)
    capture = tmp_path / "hour.bin"
    capture.write_bytes(first + hour_later.to_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        replay = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "replay",
                                   str(capture), "--domain", "market_data", "--runtime-dir",
                                   str(runtime_dir)], cwd=ROOT, env=env,
                                  stderr=subprocess.PIPE, text=True)
        try:
            # the first frame sent: the replay now waits an hour for the second
            assert receive_bytes(consumer, 64) == first
            replay.send_signal(stop)
            _, err = replay.communicate(timeout=60)
        finally:
            if replay.poll() is None:
                replay.kill()
                replay.communicate()
        assert consumer.recv_bytes(timeout=0.2) == b""
    assert replay.returncode == 0, err
    assert "replayed 1 frames to market_data" in err and "Traceback" not in err


def test_a_signal_stops_a_replay_whose_relay_is_away(runtime_dir, relays, tmp_path):
    relay = relays("market_data")
    capture = tmp_path / "slow.bin"
    capture.write_bytes(trades(100))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        replay = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "replay",
                                   str(capture), "--domain", "market_data", "--rate", "20",
                                   "--runtime-dir", str(runtime_dir)], cwd=ROOT, env=env,
                                  stderr=subprocess.PIPE, text=True)
        try:
            consumer.recv(timeout=RECEIVE_TIMEOUT)  # the replay is sending
            relay.kill()  # for good: the replay's producer tries to connect again, without end
            # its send waits for the relay: the log says so
            wait_for(lambda: select.select([replay.stderr], [], [], 0.1)[0]
                     and "reconnecting" in replay.stderr.readline(), "the replay waits")
            replay.send_signal(signal.SIGINT)
            _, err = replay.communicate(timeout=60)
        finally:
            if replay.poll() is None:
                replay.kill()
                replay.communicate()
    assert replay.returncode == 0, err
    assert "stopped in the middle of a send" in err and "Traceback" not in err
    assert "replayed" in err


def test_replay_reports_bad_stretches_and_refusals_then_exits_1(runtime_dir, relays, tmp_path):
    relays("execution")
    good = zeroed(ap.Fill, client_order_id=1, sequence=5, source=ap.SourceType.ExecutionEngine).to_bytes()
    repeated = zeroed(ap.Fill, client_order_id=2, sequence=5, source=ap.SourceType.ExecutionEngine).to_bytes()
    capture = tmp_path / "bad.bin"
    capture.write_bytes(good + b"garbage!" * 4 + repeated)
    with connect("execution", "consumer", runtime_dir=runtime_dir) as consumer:
        done = cli("replay", str(capture), "--domain", "execution", "--runtime-dir",
                   str(runtime_dir), "--max")
        assert receive_bytes(consumer, len(good)) == good
    assert done.returncode == 1
    assert f"bad stretch: 32 bytes at byte {len(good)}, bad_magic" in done.stderr
    assert "refused by the relay: 1" in done.stderr
    assert "not after the source's last one" in done.stderr


# ---- top -------------------------------------------------------------------------------

def _market_session() -> bytes:
    return b"".join(f for f in build_session(200) if 1 <= f[4] <= 19)


def test_top_prints_rates_names_orders_and_the_relays_down(runtime_dir, relays):
    relays("market_data")
    relays("execution")
    top = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "top", "--runtime-dir",
                            str(runtime_dir), "--duration", "3"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "COLUMNS": "160"})
    wait_for(lambda: subscribed(runtime_dir, "market_data", "alphapulse top")
             and subscribed(runtime_dir, "execution", "alphapulse top"), "top subscribed")
    with connect("market_data", "producer", runtime_dir=runtime_dir) as market, \
            connect("execution", "producer", runtime_dir=runtime_dir,
                    source=ap.SourceType.ExecutionEngine, sequence="auto") as execution:
        market.send_batch(_market_session())
        execution.send_batch(b"".join(f for f in build_session(200) if 40 <= f[4] <= 59))
    out, err = top.communicate(timeout=60)
    assert top.returncode == 0, err
    for words in ("AAPL", "MSFT", "BTC-USD", "market_data", "Trade", "Quote", "OrderRequest",
                  "Filled", "cancel sent", "gaps: none"):
        assert words in out, (words, out)
    assert "down: no signals relay is running there" in out
    assert "down: no system relay is running there" in out
    assert out.startswith("alphapulse top\n") and "q quits" not in out  # no key to press
    signals = runtime_dir / "signals.sock"
    assert f"signals relay at {signals}: no signals relay is running there" in err
    assert f"{signals}: {signals}" not in err  # the path named once


def test_top_quits_on_q_and_gives_the_terminal_back(runtime_dir, relays):
    relays("market_data")
    pid, master = pty.fork()
    if pid == 0:  # the child: top on the pty's terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "alphapulse_codec", "top",
                                  "--runtime-dir", str(runtime_dir)])
    shown = bytearray()
    deadline = time.monotonic() + 60
    try:
        while b"q quits" not in shown or b"market_data" not in shown:
            ready, _, _ = select.select([master], [], [], 1)
            assert time.monotonic() < deadline, f"top drew no view: {bytes(shown)!r}"
            if ready:
                shown += os.read(master, 65536)
        os.write(master, b"q")
        # go on reading: a top blocked on writing to a full terminal would never see the q
        done = 0
        while not done:
            assert time.monotonic() < deadline, f"top did not quit on q: {bytes(shown[-2000:])!r}"
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    shown += os.read(master, 65536)
                except OSError:  # the terminal is gone with top
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert os.waitstatus_to_exitcode(status) == 0


# ---- the live demo ---------------------------------------------------------------------

def test_the_live_demo_runs_checks_and_stops_everything(tmp_path):
    done = cli("demo", "--relays", "--seconds", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for words in ("market data producer", "signal producer", "order producer", "recorder",
                  "consumer", "gaps: none", "drops by the relays: none (execution: 0)",
                  "every frame sent arrived"):
        assert words in done.stdout, (words, done.stdout)
    # its own runtime directory, as it tells it: other demos (another test worker's, another
    # checkout's) come and go in /tmp meanwhile
    [runtime_dir] = re.findall(r"^relays: [^/]* in (/tmp/alphapulse-demo-\S+) ",
                               " ".join(done.stdout.split()))  # rich wraps at its width
    assert not Path(runtime_dir).exists()
    assert list(tmp_path.iterdir()) == []
