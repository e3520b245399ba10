"""A relay on TCP beside its Unix socket, with real relay processes, real sockets and real
certificates: plain TCP, mixed with the Unix socket, TLS (a client without the authority is
refused, client certificates when the relay asks for them), hostile peers, asyncio."""
from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec import aio
from alphapulse_codec.relay import Subscription, connect, frames
from alphapulse_codec.relay.client import relay_stats
from alphapulse_codec.relay.many import split_frames
from alphapulse_codec.relay.tcp import client_context, parse_address
from alphapulse_codec.wire.enums import GapReason, RelayCode, RelayRole
from alphapulse_codec.wire.errors import FieldValueError, RelayError
from test_relay import RECEIVE_TIMEOUT, receive_bytes, trades
from test_relay_clients import FAST, cli, run_async  # noqa: F401  (run_async: a fixture)
from servers import restarted_on
from test_relay_failures import _read_frame, read_until_closed, wait_for

LOOPBACK_ANY_PORT = ("--tcp", "127.0.0.1:0")


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, made by the openssl command."""
    certificate, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=60)
    return certificate, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("certificates")
    return {name: self_signed(directory, name) for name in ("relay", "client", "stranger")}


def tls_options(certificates, require_clients: bool = False) -> tuple[str, ...]:
    relay_certificate, relay_key = certificates["relay"]
    options = (*LOOPBACK_ANY_PORT, "--certfile", str(relay_certificate), "--keyfile", str(relay_key))
    return (*options, "--cafile", str(certificates["client"][0])) if require_clients else options


def trusting(certificates, own: str | None = None) -> ssl.SSLContext:
    """A client context that trusts the relay's certificate, showing ``own``'s if named."""
    certificate, key = certificates[own] if own else (None, None)
    return client_context(certificates["relay"][0], certificate, key)


def test_producer_and_consumer_over_tcp_receive_byte_for_byte(runtime_dir, relays):
    relay = relays("market_data", LOOPBACK_ANY_PORT)
    assert relay.address[0] == "127.0.0.1" and relay.address[1] > 0
    sent = trades(20_000)
    with connect("market_data", "consumer", address=relay.address) as consumer, \
            connect("market_data", "producer", address=relay.address) as producer:
        assert producer.send_batch(sent) == 20_000
        assert producer.flush() == []
        assert receive_bytes(consumer, len(sent)) == sent
        tcp_stats = relay_stats("market_data", address=relay.address)
    # out: the consumer's welcome, then every frame
    assert tcp_stats["frames_in"] == 20_000 and tcp_stats["frames_out"] == 20_001
    assert sorted(c["role"] for c in tcp_stats["connections"]) == [
        RelayRole.Producer, RelayRole.Consumer, RelayRole.Monitor]


def test_unix_and_tcp_clients_share_one_relay(runtime_dir, relays):
    relay = relays("market_data", LOOPBACK_ANY_PORT)
    sent = trades(10_000)
    with connect("market_data", "consumer", address=relay.address) as over_tcp, \
            connect("market_data", "consumer", runtime_dir=runtime_dir) as over_unix, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as unix_producer, \
            connect("market_data", "producer", address=relay.address,
                    source=ap.SourceType.KrakenCollector) as tcp_producer:
        unix_producer.send_batch(sent)
        assert receive_bytes(over_tcp, len(sent)) == sent
        theirs = trades(500, source=ap.SourceType.KrakenCollector)
        tcp_producer.send_batch(theirs)
        assert receive_bytes(over_unix, len(sent) + len(theirs)) == sent + theirs
        assert receive_bytes(over_tcp, len(theirs)) == theirs


def test_the_relay_applies_its_policy_to_tcp_producers(runtime_dir, relays):
    relay = relays("market_data", LOOPBACK_ANY_PORT)
    with connect("market_data", "producer", address=relay.address) as producer:
        producer.send_batch(trades(3))
        producer.send(ap.encode_batch(np.zeros(1, dtype=ap.dtype(ap.MessageType.OrderRequest))))
        errors = producer.finish()
    assert [e.code for e in errors] == [RelayCode.WrongDomain]
    assert "byte 192 of this connection" in errors[0].text


@pytest.mark.parametrize("garbage", [b"this is not a frame at all, just text" * 4,
                                     b"\xef\xbe\xad\xde\x01\x01\x00\x00" + (64 << 20).to_bytes(4, "little") + bytes(20)],
                         ids=["bad magic", "oversized frame"])
def test_a_garbage_tcp_producer_is_cut_off_and_the_others_go_on(runtime_dir, relays, garbage):
    relay = relays("market_data", LOOPBACK_ANY_PORT)
    sent = trades(5_000)
    with connect("market_data", "consumer", address=relay.address) as consumer, \
            connect("market_data", "producer", address=relay.address) as producer, \
            socket.create_connection(relay.address, timeout=RECEIVE_TIMEOUT) as bad:
        bad.sendall(frames.hello(RelayRole.Producer, name="raw"))
        assert ap.decode(_read_frame(bad)).status == RelayCode.Accepted
        bad.sendall(garbage)
        error = ap.decode(read_until_closed(bad))  # the relay closes it after its Error
        producer.send_batch(sent)
        assert receive_bytes(consumer, len(sent)) == sent
    assert error.code == (RelayCode.BadMagic if garbage.startswith(b"this") else RelayCode.FrameTooLarge)
    assert "byte 0 of this connection" in error.text and "closed" in error.text


def test_a_tcp_peer_that_is_no_client_is_answered_and_closed(runtime_dir, relays):
    relay = relays("market_data", LOOPBACK_ANY_PORT)
    with socket.create_connection(relay.address, timeout=RECEIVE_TIMEOUT) as peer:
        peer.sendall(b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n")
        welcome = ap.decode(read_until_closed(peer))
    assert welcome.status == RelayCode.BadHello
    assert "a client starts with a RelayHello frame" in welcome.reason


def test_tcp_clients_reconnect_to_a_relay_restarted_on_the_same_port(runtime_dir, relays):
    first = relays("market_data", LOOPBACK_ANY_PORT)
    port_option = ("--tcp", f"127.0.0.1:{first.address[1]}")
    with connect("market_data", "consumer", address=first.address, reconnect=FAST) as consumer, \
            connect("market_data", "producer", address=first.address, sequence="auto",
                    source=ap.SourceType.BinanceCollector, reconnect=FAST) as producer:
        producer.send_batch(trades(100))
        assert len(receive_bytes(consumer, 100 * 64)) == 100 * 64
        first.terminate()
        second = restarted_on(first.address[1], lambda: relays("market_data", port_option))
        assert second.address == first.address
        assert consumer.recv_bytes(timeout=0.05) == b""  # it notices the relay went away
        wait_for(lambda: any(c["role"] == RelayRole.Consumer for c in relay_stats(
            "market_data", address=second.address)["connections"]), "the consumer connected again")
        producer.send_batch(trades(100))
        again = receive_bytes(consumer, 100 * 64)
    assert consumer.reconnects == 1 and producer.reconnects == 1
    assert consumer.gaps[0].reason == GapReason.RelayRestart
    received = np.frombuffer(again, dtype=ap.dtype(ap.MessageType.Trade))
    assert list(received["header"]["sequence"]) == list(range(101, 201))


def test_a_slow_tls_consumer_is_shed_and_told_while_the_others_get_everything(
        runtime_dir, relays, certificates):
    relay = relays("market_data", tls_options(certificates), max_queue_size=4000,
                   circuit_breaker=2000)
    route = {"address": relay.address, "tls": trusting(certificates)}
    # 7.7 MB: more than the kernel holds for a consumer that reads nothing (the relay's send
    # buffer grows to 4 MiB on loopback), so the relay's own queue for it fills
    batches = [trades(1000, first_sequence=1 + 1000 * i) for i in range(120)]
    with connect("market_data", "consumer", name="slow", **route) as slow, \
            connect("market_data", "consumer", name="fast", **route) as fast, \
            connect("market_data", "producer", **route) as producer:
        for batch in batches:  # in step with the fast consumer: it never falls behind
            producer.send_batch(batch)
            assert receive_bytes(fast, len(batch)) == batch
        kept, lost = [], 0
        while len(kept) + lost < 120_000:
            message = slow.recv(timeout=RECEIVE_TIMEOUT)
            if message.header.message_type == ap.MessageType.GapNotice:
                assert message.reason == GapReason.Shed
                lost += message.frames_lost
            else:
                kept.append(message.to_bytes())
        stats = relay_stats("market_data", **route)
    assert lost > 0
    sent = b"".join(batches)
    sequences = [ap.decode(f).header.sequence for f in kept]
    assert sequences == sorted(sequences)  # what it kept, in order, each frame as sent
    assert all(f == sent[(s - 1) * 64:s * 64] for f, s in zip(kept, sequences))
    assert {c["name"]: c["frames_dropped"] for c in stats["connections"]
            if c["name"] in ("slow", "fast")} == {"slow": lost, "fast": 0}


def test_execution_over_tls_holds_its_producer_until_a_full_consumer_drains(
        runtime_dir, relays, certificates):
    relay = relays("execution", tls_options(certificates), max_queue_size=400,
                   circuit_breaker=200, stuck_timeout=600.0)
    route = {"address": relay.address, "tls": trusting(certificates)}
    # 16 MB: more than the kernel's buffers hold on the way, the relay's send buffer to the
    # stalled consumer (up to 4 MiB) and the producer's send buffer (up to 4 MiB) included
    total = 200_000
    rows = np.zeros(total, dtype=ap.dtype(ap.MessageType.OrderCancel))
    rows["client_order_id"] = np.arange(total)
    orders = ap.encode_batch(rows)
    with connect("execution", "consumer", name="stalled", **route) as stalled, \
            connect("execution", "consumer", name="steady", **route) as steady, \
            connect("execution", "producer", sequence="auto",
                    source=ap.SourceType.PortfolioManager, **route) as producer:
        sender = threading.Thread(target=producer.send_batch, args=(orders,))
        sender.start()
        received, stalled_bytes = bytearray(), bytearray()

        def relay_paused():
            received.extend(steady.recv_bytes(timeout=0.05))
            stats = relay_stats("execution", **route)
            queue = {c["name"]: c["queue_frames"] for c in stats["connections"]}
            return queue.get("stalled", 0) >= 200 and stats["frames_in"] < total

        wait_for(relay_paused, "the relay stops reading while a consumer is full")
        assert sender.is_alive()  # its send blocks: the relay reads nothing more

        def both_drained():
            stalled_bytes.extend(stalled.recv_bytes(timeout=0.05))
            received.extend(steady.recv_bytes(timeout=0.05))
            return len(stalled_bytes) == len(received) == len(orders)

        wait_for(both_drained, "both consumers get every frame")
        sender.join(RECEIVE_TIMEOUT)
    got = np.frombuffer(bytes(received), dtype=ap.dtype(ap.MessageType.OrderCancel))
    assert got["header"]["sequence"].tolist() == list(range(1, total + 1))
    assert got["client_order_id"].tolist() == list(range(total))
    assert stalled_bytes == received


def test_a_peer_that_never_ends_its_tls_handshake_is_cut_off(runtime_dir, relays, certificates):
    relay = relays("market_data", tls_options(certificates))
    with socket.create_connection(relay.address, timeout=RECEIVE_TIMEOUT) as silent, \
            socket.create_connection(relay.address, timeout=RECEIVE_TIMEOUT) as halfway:
        halfway.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
        with connect("market_data", "consumer", address=relay.address,
                     tls=trusting(certificates)) as consumer:  # served meanwhile
            assert consumer.connection_id > 0
        assert read_until_closed(silent) == b""  # closed after the hello's 5 s
        assert read_until_closed(halfway) == b""


def test_tls_clients_receive_byte_for_byte(runtime_dir, relays, certificates):
    relay = relays("market_data", tls_options(certificates))
    sent = trades(20_000)
    tls = trusting(certificates)
    with connect("market_data", "consumer", address=relay.address, tls=tls) as consumer, \
            connect("market_data", "producer", address=relay.address, tls=tls) as producer, \
            connect("market_data", "consumer", runtime_dir=runtime_dir) as over_unix:
        producer.send_batch(sent[:640_000])
        producer.send_batch(sent[640_000:])
        assert receive_bytes(consumer, len(sent)) == sent
        assert receive_bytes(over_unix, len(sent)) == sent
        assert producer.finish() == []
    assert "tls://127.0.0.1:" in relay.stderr


def test_a_client_that_does_not_trust_the_relay_is_refused(runtime_dir, relays, certificates):
    relay = relays("market_data", tls_options(certificates))
    with pytest.raises(RelayError, match="certificate is not trusted"):
        connect("market_data", "consumer", address=relay.address, tls=client_context())
    with pytest.raises(RelayError, match="certificate is not trusted"):  # another one's authority
        connect("market_data", "consumer", address=relay.address,
                tls=client_context(certificates["stranger"][0]))
    # a plain TCP client on a TLS listener gets no answer it could read as a welcome
    with pytest.raises(RelayError):
        connect("market_data", "consumer", address=relay.address, timeout=5.0)
    with connect("market_data", "consumer", address=relay.address,
                 tls=trusting(certificates)) as consumer:  # the relay still serves
        assert consumer.connection_id > 0


def test_a_relay_with_a_cafile_requires_client_certificates(runtime_dir, relays, certificates):
    relay = relays("execution", tls_options(certificates, require_clients=True))
    for refused in (trusting(certificates), trusting(certificates, own="stranger")):
        with pytest.raises(RelayError, match="TLS"):
            connect("execution", "consumer", address=relay.address, tls=refused)
    tls = trusting(certificates, own="client")
    orders = ap.encode_batch(np.zeros(3, dtype=ap.dtype(ap.MessageType.OrderRequest)))
    with connect("execution", "consumer", address=relay.address, tls=tls) as consumer, \
            connect("execution", "producer", address=relay.address, tls=tls,
                    source=ap.SourceType.BinanceCollector, sequence="auto") as producer:
        producer.send_batch(orders)
        received = receive_bytes(consumer, len(orders))
    assert list(np.frombuffer(received, dtype=ap.dtype(ap.MessageType.OrderRequest))
                ["header"]["sequence"]) == [1, 2, 3]
    relay.terminate()
    assert relay.stderr.count("TLS handshake failed") == 2


def test_async_clients_over_tcp_and_tls(runtime_dir, relays, certificates, run_async):
    plain = relays("market_data", LOOPBACK_ANY_PORT)
    secure = relays("signals", tls_options(certificates))
    tls = trusting(certificates)
    sent = trades(5_000)
    signals = ap.encode_batch(np.zeros(200, dtype=ap.dtype(ap.MessageType.ArbitrageOpportunity)))

    async def through(domain: str, data: bytes, **route) -> bytes:
        """``data`` as a batch, then its first frame alone, and what a consumer received."""
        first_frame = bytes(next(split_frames(data)))
        consumer = await aio.connect(domain, "consumer", **route)
        producer = await aio.connect(domain, "producer", **route)
        async with consumer, producer:
            await producer.send_batch(data)
            await producer.send(first_frame)
            received = b""
            while len(received) < len(data) + len(first_frame):
                chunk = await consumer.recv_bytes(timeout=RECEIVE_TIMEOUT)
                assert chunk, f"only {len(received)} bytes arrived"
                received += chunk
            assert await producer.flush() == []
            return received

    async def scenario():
        over_tcp = await through("market_data", sent, address=plain.address)
        over_tls = await through("signals", signals, address=secure.address, tls=tls)
        return over_tcp, over_tls

    over_tcp, over_tls = run_async(scenario())
    assert over_tcp == sent + sent[:64]
    assert over_tls == signals + bytes(next(split_frames(signals)))


def board_subscriptions(runtime_dir: Path, market: tuple[str, int], signals: tuple[str, int],
                        tls: ssl.SSLContext) -> list[Subscription]:
    """market_data over TCP, signals over TLS, execution over its Unix socket."""
    return [Subscription("market_data", runtime_dir / "market_data.sock", None, address=market),
            Subscription("signals", runtime_dir / "signals.sock", None, address=signals, tls=tls),
            Subscription("execution", runtime_dir / "execution.sock", None)]


def feed_three_relays(runtime_dir: Path) -> dict[str, bytes]:
    """Frames to each relay, over its Unix socket: per domain, the bytes sent."""
    sent = {"market_data": trades(3000),
            "signals": ap.encode_batch(np.zeros(2, dtype=ap.dtype(ap.MessageType.StrategyAlert))),
            "execution": ap.encode_batch(np.zeros(1, dtype=ap.dtype(ap.MessageType.OrderRequest)))}
    for domain, data in sent.items():
        with connect(domain, "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(data)
    return sent


def test_subscribe_many_reads_relays_over_tcp_tls_and_unix_at_once(runtime_dir, relays,
                                                                   certificates):
    market = relays("market_data", LOOPBACK_ANY_PORT)
    signals = relays("signals", tls_options(certificates))
    relays("execution")
    chosen = board_subscriptions(runtime_dir, market.address, signals.address,
                                 trusting(certificates))
    with ap.subscribe_many(chosen, backoff=FAST) as board:
        wait_for(lambda: board.recv_bytes(timeout=0.05) == [] and
                 set(board.status.values()) == {"up"}, "every relay connected")
        sent = feed_three_relays(runtime_dir)
        received = {domain: b"" for domain in sent}
        while any(len(received[domain]) < len(data) for domain, data in sent.items()):
            got = board.recv_bytes(timeout=RECEIVE_TIMEOUT)
            assert got, f"only {[len(data) for data in received.values()]} bytes arrived"
            for domain, data in got:
                received[domain] += data
    assert received == sent


def test_aio_subscribe_many_reads_relays_over_tcp_tls_and_unix(runtime_dir, relays, certificates,
                                                               run_async):
    market = relays("market_data", LOOPBACK_ANY_PORT)
    signals = relays("signals", tls_options(certificates))
    relays("execution")
    chosen = board_subscriptions(runtime_dir, market.address, signals.address,
                                 trusting(certificates))

    async def scenario():
        async with aio.subscribe_many(chosen, backoff=FAST) as board:
            while set(board.status.values()) != {"up"}:
                await asyncio.sleep(0.02)
            sent = feed_three_relays(runtime_dir)
            received = {domain: b"" for domain in sent}
            while any(len(received[domain]) < len(data) for domain, data in sent.items()):
                got = await board.recv_bytes(timeout=RECEIVE_TIMEOUT)
                assert got, f"only {[len(data) for data in received.values()]} bytes arrived"
                received[got[0]] += got[1]
            return sent, received

    sent, received = run_async(scenario())
    assert received == sent


def test_the_command_line_serves_and_asks_over_tcp(runtime_dir, relays, certificates):
    relay = relays("system", tls_options(certificates))
    relay_certificate = str(certificates["relay"][0])
    host, port = relay.address
    shown = cli("relay", "stats", "--domain", "system", "--tcp", f"{host}:{port}",
                "--cafile", relay_certificate, "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"relay_pid"' in shown.stdout
    untrusted = cli("relay", "stats", "--domain", "system", "--tcp", f"{host}:{port}")
    assert untrusted.returncode != 0 and "Traceback" not in untrusted.stderr
    assert "closed the connection during the handshake (a relay that speaks TLS" in untrusted.stderr


@pytest.mark.parametrize("arguments, message", [
    (("relay", "--tcp", "127.0.0.1:0"), "--tcp serves one relay: add --domain"),
    (("relay", "--domain", "system", "--tcp", "localhost:http"), "--tcp: 'localhost:http' is not HOST:PORT"),
    (("relay", "--domain", "system", "--tcp", "127.0.0.1:70000"), "port of 0-65535"),
    (("relay", "--domain", "system", "--certfile", "relay.pem"), "add --tcp HOST:PORT"),
    (("relay", "--domain", "system", "--tcp", ":0", "--certfile", "/nonexistent.pem"),
     "certfile: '/nonexistent.pem' is not a readable file"),
    (("relay", "--domain", "system", "--tcp", ":0", "--cafile", "ca.pem"), "go with --certfile"),
])
def test_the_command_line_refuses_bad_tcp_options_in_one_line(runtime_dir, arguments, message):
    done = cli(*arguments, "--runtime-dir", str(runtime_dir))
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


def test_addresses_are_read_and_checked():
    assert parse_address("127.0.0.1:7001") == ("127.0.0.1", 7001)
    assert parse_address(":0") == ("127.0.0.1", 0)
    assert parse_address("7001") == ("127.0.0.1", 7001)
    assert parse_address("[::1]:7001") == ("::1", 7001)
    with pytest.raises(FieldValueError, match="address"):
        connect("market_data", "consumer", address="127.0.0.1:7001")
    with pytest.raises(FieldValueError, match="tls"):
        connect("market_data", "consumer", tls=client_context())


def test_a_tcp_address_nobody_listens_on_is_a_clear_error():
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RelayError, match=f"tcp://127.0.0.1:{port}: no relay listens there"):
        connect("market_data", "consumer", address=("127.0.0.1", port))
