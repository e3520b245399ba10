"""The Redis Streams transport against a real redis-server on loopback: frames delivered byte
for byte to one and to several consumers, batched several per entry, filtered by type and
source, consumer groups sharing the load, gaps from sequence jumps and from trimming, and a
clear refusal when no server answers."""
from __future__ import annotations

import pytest

pytest.importorskip("redis")

import redis  # noqa: E402

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.transport import redis_streams as bus  # noqa: E402
from alphapulse_codec.transport.errors import BusConnectionError, BusError  # noqa: E402
from alphapulse_codec.wire.enums import GapReason  # noqa: E402
from alphapulse_codec.wire.errors import ParseError, RelayTimeoutError  # noqa: E402
from bus_frames import GUARD, quote, receive, split, trades  # noqa: E402
from servers import free_port, restarted_on, start_redis  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = start_redis(tmp_path_factory.mktemp("redis"))
    yield instance
    instance.stop()


@pytest.fixture
def domain(request):
    """A stream of its own for each test."""
    return request.node.name.replace("[", "_").replace("]", "_")


def test_frames_arrive_byte_for_byte_at_every_consumer(server, domain):
    frames = trades(10_000)
    consumers = [bus.Consumer(domain, url=server.url) for _ in range(3)]
    try:
        with bus.Producer(domain, url=server.url, batch_frames=1000) as producer:
            assert producer.send_batch(frames) == 10_000
            assert producer.flush() == []  # no ErrorReports: a refusal raises BusError
        for consumer in consumers:
            assert receive(consumer, 10_000) == frames
            assert consumer.gaps == []
            with pytest.raises(RelayTimeoutError, match="no frame within 0.1 s"):
                consumer.recv(timeout=0.1)
    finally:
        for consumer in consumers:
            consumer.close()


def test_entries_hold_several_whole_frames(server, domain):
    mixed = trades(3) + quote(4) + trades(6, first=5)
    with bus.Producer(domain, url=server.url, batch_bytes=200) as producer:
        producer.send_batch(mixed)
        for message in [ap.decode(f) for f in split(trades(5, first=11))]:
            producer.send(message)
    entries = redis.Redis.from_url(server.url).xrange(f"alphapulse:{domain}")
    sizes = [(len(fields[b"frames"]), int(fields[b"count"])) for _, fields in entries]
    # 64-byte Trades and an 80-byte Quote, at most 200 bytes an entry, types mixed
    assert sizes == [(192, 3), (80 + 64, 2), (192, 3), (128, 2)] + [(192, 3), (128, 2)]
    assert b"".join(fields[b"frames"] for _, fields in entries) == mixed + trades(5, first=11)


def test_the_configuration_sets_the_producers_entries(server, domain):
    """batch_frames in the file gathers a producer's single sends into entries; its consumers
    take no such key."""
    config = {"alphapulse": {"market_data": {"transport": "redis", "url": server.url,
                                             "stream_prefix": domain, "batch_frames": 3}}}
    sent = split(trades(5))
    with ap.connect("market_data", "consumer", config=config) as consumer:
        with ap.connect("market_data", "producer", config=config) as producer:
            for frame in sent:
                producer.send(frame)
        assert receive(consumer, 5) == b"".join(sent)
    entries = redis.Redis.from_url(server.url).xrange(f"{domain}:market_data")
    assert [int(fields[b"count"]) for _, fields in entries] == [3, 2]


def test_types_and_sources_are_filtered_on_receipt(server, domain):
    with bus.Consumer(domain, url=server.url, types=["Quote"]) as quotes, \
            bus.Consumer(domain, url=server.url, sources=[9]) as nines:
        with bus.Producer(domain, url=server.url) as producer:
            producer.send_batch(trades(5) + quote(6) + trades(20, source=9))
        assert quotes.recv_bytes(timeout=GUARD) == quote(6)
        assert receive(nines, 20) == trades(20, source=9)
        assert quotes.recv_bytes(timeout=0.2) == b""


def test_consumers_of_a_group_share_the_entries(server, domain):
    members = [bus.Consumer(domain, url=server.url, group="risk", name=f"m{i}",
                            read_entries=1) for i in range(2)]
    try:
        with bus.Producer(domain, url=server.url, batch_frames=10) as producer:
            producer.send_batch(trades(200))
        shares = [bytearray(), bytearray()]
        while sum(len(share) for share in shares) < 200 * 64:
            for member, share in zip(members, shares):
                share += member.recv_bytes(timeout=0.5)
        assert all(shares)  # both took part
        got = sorted(split(shares[0]) + split(shares[1]))
        assert got == sorted(split(trades(200)))  # each frame once, none lost
        pending = redis.Redis.from_url(server.url).xpending(f"alphapulse:{domain}", "risk")
        assert pending["pending"] == 0  # acknowledged
    finally:
        for member in members:
            member.close()


def test_a_jump_in_a_sources_sequences_is_a_gap(server, domain):
    with bus.Consumer(domain, url=server.url) as consumer:
        with bus.Producer(domain, url=server.url) as producer:
            producer.send_batch(trades(10, source=3))
            producer.send_batch(trades(10, source=3, first=16))
        receive(consumer, 20)
        assert [(g.source, g.reason, g.first, g.last, g.frames_lost, g.reported)
                for g in consumer.gaps] == [(3, GapReason.SequenceJump, 11, 15, 5, False)]


def test_entries_trimmed_before_a_consumer_read_them_are_a_gap(server, domain):
    with bus.Consumer(domain, url=server.url) as consumer:
        with bus.Producer(domain, url=server.url, batch_frames=10,
                          max_queue_size=10) as producer:
            producer.send_batch(trades(10))
            assert receive(consumer, 10) == trades(10)
            for first in range(11, 2011, 10):  # MAXLEN ~ trims whole nodes of 100 entries
                producer.send_batch(trades(10, first=first))
        receive(consumer, 10, max_frames=10)
        trimmed = [g for g in consumer.gaps if g.reason == GapReason.Trimmed]
        # the consumer read entry 1; entries from 2 on went before it came back
        assert trimmed and trimmed[0].first == 2 and trimmed[0].reported
        assert trimmed[0].last > 100
        jumps = [g for g in consumer.gaps if g.reason == GapReason.SequenceJump]
        assert jumps and jumps[0].first == 11 and consumer.frames_lost >= jumps[0].frames_lost


@pytest.mark.parametrize("entry_frames", [1, 10])
def test_the_stream_keeps_about_max_queue_size_frames_whatever_an_entry_holds(server, domain,
                                                                              entry_frames):
    stream = redis.Redis.from_url(server.url)
    with bus.Producer(domain, url=server.url, max_queue_size=300) as producer:
        for first in range(1, 3001, entry_frames):
            if entry_frames == 1:
                producer.send(trades(1, first=first))
            else:
                producer.send_batch(trades(entry_frames, first=first))
    kept = sum(int(entry[b"count"]) for _, entry in stream.xrange(f"alphapulse:{domain}"))
    # MAXLEN ~ trims whole nodes of 100 entries: never below the bound, at most a node over
    assert 300 <= kept <= 300 + 100 * entry_frames


def test_a_malformed_batch_is_refused_whole_with_its_offset(server, domain):
    frames = bytearray(trades(3))
    frames[128 + 40] ^= 0xFF
    with bus.Producer(domain, url=server.url) as producer:
        with pytest.raises(ParseError, match="byte offset 128"):
            producer.send_batch(bytes(frames))
    assert redis.Redis.from_url(server.url).xlen(f"alphapulse:{domain}") == 0


@pytest.mark.parametrize("batching", [{}, {"batch_frames": 1}], ids=["default", "batch_frames=1"])
def test_a_single_send_is_written_at_once_and_read_before_any_flush(server, domain, batching):
    with bus.Consumer(domain, url=server.url) as consumer, \
            bus.Producer(domain, url=server.url, **batching) as producer:
        frame = trades(1)
        producer.send(frame)  # its XADD written now; its reply read at flush
        assert consumer.recv_bytes(timeout=5) == frame
        assert producer.flush() == []


def test_replies_left_unread_survive_the_client_s_health_check_time(server, domain):
    frames = trades(3)
    with bus.Consumer(domain, url=server.url) as consumer, \
            bus.Producer(domain, url=server.url, batch_frames=1) as producer:
        producer.send(frames[:64])
        assert hasattr(producer._connection, "next_health_check")
        producer._connection.next_health_check = 0  # redis-py would PING before the next send
        producer.send(frames[64:128])
        producer.send(frames[128:])
        assert producer.flush() == []
        assert receive(consumer, 3) == frames


def test_a_restarted_server_is_a_connection_error_then_the_producer_goes_on(tmp_path, domain):
    first = start_redis(tmp_path / "first")
    producer = bus.Producer(domain, url=first.url, batch_frames=1)
    frames = trades(3)
    try:
        producer.send(frames[:64])
        assert producer.flush() == []
        first.stop()
        again = restarted_on(first.port, lambda: start_redis(tmp_path / "again", port=first.port))
        try:
            with bus.Consumer(domain, url=again.url) as consumer:
                with pytest.raises(BusConnectionError, match=f"Redis {again.url}: connection lost"):
                    producer.send(frames[64:128])  # on the old connection: lost, said so
                    producer.flush()
                producer.send(frames[128:])  # on a new connection
                assert producer.flush() == []
                assert consumer.recv_bytes(timeout=5) == frames[128:]
        finally:
            producer.close()
            again.stop()
    finally:
        first.stop()


def test_refused_entries_are_counted_among_those_written(server, domain):
    client = redis.Redis.from_url(server.url)
    producer = bus.Producer(domain, url=server.url, batch_frames=1)
    frames = trades(3)
    producer.send(frames[:64])
    client.set(f"alphapulse:{domain}", b"not a stream")  # the next two XADDs are refused
    producer.send(frames[64:128])
    producer.send(frames[128:])
    with pytest.raises(BusError, match=r"2 of the 3 entries written since the last reply"
                                       r" refused \(entry 2: WRONGTYPE"):
        producer.flush()
    client.delete(f"alphapulse:{domain}")
    producer.send(frames[:64])
    assert producer.flush() == []
    producer.close()


def test_no_server_is_a_clear_connection_error():
    port = free_port()
    with pytest.raises(BusConnectionError, match=f"redis://127.0.0.1:{port}"):
        bus.Consumer("market_data", url=f"redis://127.0.0.1:{port}", connect_timeout=1)
