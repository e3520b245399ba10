"""Domain relays under hostile and failing clients, slow consumers and process deaths, with
real processes and real sockets."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.relay import connect, frames
from alphapulse_codec.relay.client import relay_stats
from alphapulse_codec.relay.policy import default_policy
from alphapulse_codec.wire.enums import GapReason, RelayCode, RelayRole
from alphapulse_codec.wire.errors import RelayClosedError, RelayError
from relays import ROOT, RelayProcess, start
from test_relay import RECEIVE_TIMEOUT, receive_bytes, trades

WAIT = 60.0  # upper bound on waiting for a state, never a measure


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {WAIT} s: {what}")
        time.sleep(0.02)


def raw_producer(path) -> socket.socket:
    """A connection that said hello as a producer and may then send anything."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(RECEIVE_TIMEOUT)
    sock.connect(str(path))
    sock.sendall(frames.hello(RelayRole.Producer, name="raw"))
    welcome = ap.decode(_read_frame(sock))
    assert welcome.status == RelayCode.Accepted
    return sock


def _read_frame(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 32:
        data += sock.recv(32 - len(data))
    size = 32 + int.from_bytes(data[8:12], "little")
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("garbage", [b"this is not a frame at all, just text" * 4,
                                     b"\xef\xbe\xad\xde\x01\x01\x00\x00" + (64 << 20).to_bytes(4, "little") + bytes(20)],
                         ids=["bad magic", "oversized frame"])
def test_a_garbage_producer_is_cut_off_and_good_frames_all_arrive(runtime_dir, relays, garbage):
    relay = relays("market_data")
    sent = trades(20_000)
    theirs = trades(2, source=ap.SourceType.KrakenCollector)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        bad = raw_producer(relay.path)
        producer.send_batch(sent[:len(sent) // 2])
        bad.sendall(theirs + garbage)
        producer.send_batch(sent[len(sent) // 2:])
        answers = read_until_closed(bad)  # the relay closes it after its Error
        received = receive_bytes(consumer, len(sent) + len(theirs))
        stats = relay_stats("market_data", runtime_dir=runtime_dir)
    error = ap.decode(answers)
    code = RelayCode.BadMagic if garbage.startswith(b"this") else RelayCode.FrameTooLarge
    assert error.code == code
    assert f"byte {len(theirs)}" in error.text and "closed" in error.text
    frames_ = np.frombuffer(received, dtype=np.uint8).reshape(-1, 64)
    source = frames_[:, 6]
    # every good frame, in order, byte for byte
    assert frames_[source == ap.SourceType.BinanceCollector].tobytes() == sent
    assert frames_[source == ap.SourceType.KrakenCollector].tobytes() == theirs
    assert stats["disconnects"] == 1 and stats["frames_refused"] == 1


def test_a_slow_consumer_is_shed_and_told_while_the_others_get_everything(runtime_dir, relays):
    relays("market_data", max_queue_size=4000, circuit_breaker=2000)
    batches = [trades(1000, first_sequence=1 + 1000 * i) for i in range(40)]
    with connect("market_data", "consumer", runtime_dir=runtime_dir, name="slow") as slow, \
            connect("market_data", "consumer", runtime_dir=runtime_dir, name="fast") as fast, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        for batch in batches:  # in step with the fast consumer: it never falls behind
            producer.send_batch(batch)
            assert receive_bytes(fast, len(batch)) == batch
        received = []
        lost = 0
        while len(received) + lost < 40_000:
            message = slow.recv(timeout=RECEIVE_TIMEOUT)
            if message.header.message_type == ap.MessageType.GapNotice:
                assert message.reason == GapReason.Shed
                assert message.gap_source == ap.SourceType.BinanceCollector
                assert message.last_sequence - message.first_sequence + 1 == message.frames_lost
                lost += message.frames_lost
            else:
                received.append(message.to_bytes())
        stats = relay_stats("market_data", runtime_dir=runtime_dir)
        gaps = slow.gaps
    assert lost > 0
    # each shed stretch once, as the relay told it, not again as the jump it leaves
    assert all(g.reported and g.reason == GapReason.Shed for g in gaps)
    assert sum(g.frames_lost for g in gaps) == lost
    sent = b"".join(batches)
    sequences = [ap.decode(f).header.sequence for f in received]
    assert sequences == sorted(sequences)  # what it kept, in order, each frame as sent
    assert all(f == sent[(s - 1) * 64:s * 64] for f, s in zip(received, sequences))
    assert stats["frames_dropped"] == lost
    by_name = {c["name"]: c for c in stats["connections"]}
    assert by_name["slow"]["frames_dropped"] == lost and by_name["fast"]["frames_dropped"] == 0


def _orders(count: int) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.OrderCancel))
    rows["header"]["source"] = ap.SourceType.PortfolioManager
    rows["client_order_id"] = np.arange(count)
    rows["quantity"] = 1
    return ap.encode_batch(rows)


def test_execution_blocks_producers_until_a_full_consumer_drains(runtime_dir, relays):
    relays("execution", max_queue_size=400, circuit_breaker=200, stuck_timeout=600.0)
    total = 20_000
    orders = _orders(total)
    with connect("execution", "consumer", runtime_dir=runtime_dir, name="stalled") as stalled, \
            connect("execution", "consumer", runtime_dir=runtime_dir, name="steady") as steady, \
            connect("execution", "producer", runtime_dir=runtime_dir, sequence="auto",
                    source=ap.SourceType.PortfolioManager) as producer:
        sender = threading.Thread(target=producer.send_batch, args=(orders,))
        sender.start()
        received = bytearray()

        def relay_paused():
            received.extend(steady.recv_bytes(timeout=0.05))
            stats = relay_stats("execution", runtime_dir=runtime_dir)
            queue = {c["name"]: c["queue_frames"] for c in stats["connections"]}
            return queue.get("stalled", 0) >= 200 and stats["frames_in"] < total

        wait_for(relay_paused, "the relay stops reading while a consumer is full")
        assert sender.is_alive()  # its send blocks: the relay reads nothing more
        stalled_bytes = bytearray()

        def both_drained():  # the stalled one reads again: everything flows to both
            stalled_bytes.extend(stalled.recv_bytes(timeout=0.05))
            received.extend(steady.recv_bytes(timeout=0.05))
            return len(stalled_bytes) == len(received) == len(orders)

        wait_for(both_drained, "both consumers get every frame")
        sender.join(WAIT)
    rows = np.frombuffer(bytes(received), dtype=ap.dtype(ap.MessageType.OrderCancel))
    assert rows["header"]["sequence"].tolist() == list(range(1, total + 1))
    assert rows["client_order_id"].tolist() == list(range(total))
    assert stalled_bytes == received


def test_execution_disconnects_a_stuck_consumer_and_goes_on(runtime_dir, relays):
    relay = relays("execution", max_queue_size=400, circuit_breaker=200, stuck_timeout=1.0)
    total = 20_000
    with connect("execution", "consumer", runtime_dir=runtime_dir, name="stuck") as stuck, \
            connect("execution", "consumer", runtime_dir=runtime_dir, name="steady") as steady, \
            connect("execution", "producer", runtime_dir=runtime_dir, sequence="auto",
                    source=ap.SourceType.PortfolioManager) as producer:
        sender = threading.Thread(target=producer.send_batch, args=(_orders(total),))
        sender.start()
        received = receive_bytes(steady, total * 80)
        sender.join(WAIT)
        stats = relay_stats("execution", runtime_dir=runtime_dir)
        stuck_data = b""
        with pytest.raises(RelayClosedError):
            while True:
                stuck_data += stuck.recv_bytes(timeout=RECEIVE_TIMEOUT)
    rows = np.frombuffer(received, dtype=ap.dtype(ap.MessageType.OrderCancel))
    assert rows["header"]["sequence"].tolist() == list(range(1, total + 1))
    assert stats["disconnects"] == 1 and stats["frames_dropped"] == 0
    assert "stuck" not in {c["name"] for c in stats["connections"]}
    assert len(stuck_data) < total * 80
    relay.terminate()
    assert "consumer" in relay.stderr and "(stuck," in relay.stderr and "disconnected" in relay.stderr


def test_runtime_dir_and_socket_permissions(runtime_dir):
    directory = runtime_dir / "nested"
    relay = start("signals", directory)
    try:
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(relay.path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(relay.path).st_mode)
    finally:
        relay.kill()


def test_a_stale_socket_is_replaced_and_a_live_relay_refused(runtime_dir):
    path = runtime_dir / "system.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nothing listens: a relay that died
    relay = start("system", runtime_dir)
    try:
        with connect("system", "consumer", runtime_dir=runtime_dir):
            pass
        second = RelayProcess("system", runtime_dir)
        assert second.finish() == 2
        assert "already running" in second.stderr and str(path) in second.stderr
        assert "Traceback" not in second.stderr
        with connect("system", "consumer", runtime_dir=runtime_dir):
            pass  # the first relay still serves
    finally:
        relay.kill()


def test_sigterm_hands_queued_frames_to_consumers_then_exits_0(runtime_dir, relays):
    relay = relays("market_data")
    sent = trades(100_000)  # 6.4 MB: far more than the socket buffers hold
    with connect("market_data", "consumer", runtime_dir=runtime_dir, name="late") as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(sent)
        wait_for(lambda: relay_stats("market_data", runtime_dir=runtime_dir)["frames_in"] == 100_000,
                 "the relay read every frame")
        relay.process.send_signal(signal.SIGTERM)
        received = bytearray()
        while True:
            try:
                received += consumer.recv_bytes(timeout=RECEIVE_TIMEOUT)
            except RelayClosedError:
                break
    assert bytes(received) == sent
    assert relay.finish() == 0
    assert not relay.path.exists()


_PRODUCER = """
import sys, numpy as np, alphapulse_codec as ap
rows = np.zeros(1000, dtype=ap.dtype(ap.MessageType.Trade))
block = ap.encode_batch(rows)
with ap.connect("market_data", "producer", runtime_dir=sys.argv[1]) as producer:
    print("connected", flush=True)
    while True:
        producer.send_batch(block)
"""

_CONSUMER = """
import sys, alphapulse_codec as ap
with ap.connect("market_data", "consumer", runtime_dir=sys.argv[1]) as consumer:
    print("connected", flush=True)
    while True:
        consumer.recv_bytes()
"""


def test_kill_9_of_a_producer_and_a_consumer_mid_stream(runtime_dir, relays):
    relay = relays("market_data")
    children = [subprocess.Popen([sys.executable, "-c", code, str(runtime_dir)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
                for code in (_CONSUMER, _PRODUCER)]
    try:
        for child in children:
            assert child.stdout.readline() == "connected\n"
        wait_for(lambda: relay_stats("market_data", runtime_dir=runtime_dir)["frames_out"] > 10_000,
                 "frames flow from the producer to the consumer")
        for child in children:
            child.kill()
            child.wait()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    wait_for(lambda: len(relay_stats("market_data", runtime_dir=runtime_dir)["connections"]) == 1,
             "the relay let the dead connections go")  # the one left: this stats request
    sent = trades(5000)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(sent)
        assert receive_bytes(consumer, len(sent)) == sent
    assert relay.process.poll() is None


def test_a_gap_notice_with_a_reason_no_gap_reason_names_is_a_relay_error(runtime_dir):
    """A process at the relay's socket that welcomes a consumer, then sends a GapNotice whose
    reason is not a GapReason: the consumer says so rather than report a gap it cannot name."""
    policy = default_policy("market_data", runtime_dir)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(policy.path))
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)  # the hello
            connection.sendall(frames.welcome(policy, status=RelayCode.Accepted, connection_id=1,
                                              max_frame_size=ap.DEFAULT_MAX_FRAME_SIZE))
            connection.sendall(frames.gap_notice("market_data", gap_source=1, reason=200,
                                                 first=1, last=2, lost=2))
            connection.recv(1)  # until the consumer goes

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
            with pytest.raises(RelayError, match="GapNotice whose reason 200 is not a GapReason"):
                consumer.recv(timeout=RECEIVE_TIMEOUT)
    finally:
        server.join(WAIT)
        listener.close()
