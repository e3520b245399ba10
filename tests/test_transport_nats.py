"""The NATS transport against real nats-server processes on loopback: frames delivered byte
for byte to one and to several consumers, subscription by type (subjects) and source,
batching, sequence gaps, JetStream replay from a sequence and a time, a clear refusal when no
server answers, and a three-node cluster losing a node mid-stream; the asyncio clients of
aio.connect on asyncio's loop and uvloop's; a producer's buffers cut into messages as the
full decode would cut them."""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("nats")

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec import aio  # noqa: E402
from alphapulse_codec.transport import _frames, nats_aio  # noqa: E402
from alphapulse_codec.transport import nats as bus  # noqa: E402
from alphapulse_codec.transport.errors import BusConnectionError, BusError  # noqa: E402
from alphapulse_codec.wire.enums import GapReason  # noqa: E402
from alphapulse_codec.wire.errors import ParseError, RelayClosedError, RelayTimeoutError  # noqa: E402
from bus_frames import GUARD, quote, receive, split, trades  # noqa: E402
from servers import free_port, nats_cluster, start_nats  # noqa: E402
from test_transport_select import run  # noqa: E402,F401  (asyncio's loop and uvloop's)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = start_nats(tmp_path_factory.mktemp("nats"))
    yield instance
    instance.stop()


def test_frames_arrive_byte_for_byte_at_every_consumer(server):
    frames = trades(10_000)
    consumers = [bus.Consumer("market_data", servers=server.url) for _ in range(3)]
    try:
        with bus.Producer("market_data", servers=server.url, batch_frames=1000) as producer:
            assert producer.send_batch(frames) == 10_000
            assert producer.flush() == []  # no ErrorReports: a refusal raises BusError
        for consumer in consumers:
            assert receive(consumer, 10_000) == frames
            assert consumer.gaps == []
    finally:
        for consumer in consumers:
            consumer.close()


def test_single_sends_are_batched_and_flushed(server):
    with bus.Consumer("signals", servers=server.url) as consumer:
        with bus.Producer("signals", servers=server.url, batch_frames=64) as producer:
            sent = [ap.decode(frame) for frame in split(trades(100))]
            for message in sent:
                producer.send(message)
        got = [consumer.recv(timeout=GUARD) for _ in range(100)]
        assert [m.to_bytes() for m in got] == [m.to_bytes() for m in sent]
        result = consumer.recv_batch(timeout=0.2)
        assert len(result) == 0
        with pytest.raises(RelayTimeoutError, match="no frame within 0.2 s"):
            consumer.recv(timeout=0.2)


def test_the_configuration_sets_the_producers_batches(server):
    """batch_frames and batch_bytes in the file reach a producer (the asyncio one's keywords
    are the same nats_options); its consumers take no such key."""
    config = {"alphapulse": {"signals": {"transport": "nats", "servers": [server.url],
                                         "subject_prefix": "batched", "batch_frames": 64,
                                         "batch_bytes": 8192}}}
    sent = [ap.decode(frame) for frame in split(trades(100))]
    with ap.connect("signals", "consumer", config=config) as consumer:
        with ap.connect("signals", "producer", config=config) as producer:
            assert (producer.gather, producer.batch_frames, producer.batch_bytes) == \
                (True, 64, 8192)
            for message in sent:
                producer.send(message)
        assert [consumer.recv(timeout=GUARD).to_bytes() for _ in range(100)] == \
            [m.to_bytes() for m in sent]


@pytest.mark.parametrize("batching", [{}, {"batch_frames": 1}], ids=["default", "batch_frames=1"])
def test_a_single_send_goes_out_without_a_flush(server, batching):
    """By default (no batch size asked for), as with batch_frames=1, each send is its own
    message, delivered while the producer is still open and has not flushed; a consumer
    reading each before the next is sent gets every message alone, checked, filtered by source
    and counted against its sequence on its own."""
    with bus.Consumer("signals", servers=server.url) as every, \
            bus.Consumer("signals", servers=server.url, sources=[3]) as threes, \
            bus.Producer("signals", servers=server.url, **batching) as producer:
        sent = split(trades(3, source=3) + trades(2, source=3, first=7) + trades(2, source=4))
        for frame in sent:
            producer.send(frame)
            assert every.recv(timeout=GUARD).to_bytes() == frame
        assert [threes.recv(timeout=GUARD).to_bytes() for _ in range(5)] == sent[:5]
        assert [(g.source, g.reason, g.first, g.last, g.frames_lost, g.reported)
                for g in every.gaps] == [(3, GapReason.SequenceJump, 4, 6, 3, False)]
        assert every.frames_lost == 3 and every.errors == [] and threes.errors == []
        assert threes.recv_bytes(timeout=0.2) == b""  # source 4's frames were left out
        producer.send(sent[0])  # a replayed sequence is no loss
        assert every.recv_batch(timeout=GUARD)[ap.MessageType.Trade]["header"]["sequence"] \
            .tolist() == [1]
        assert every.frames_lost == 3


def test_a_bad_frame_alone_in_a_message_is_skipped_and_listed(server):
    good = split(trades(2, source=6))
    bad = bytearray(good[0])
    bad[-1] ^= 0xFF  # the payload no longer matches its checksum
    unknown = bytearray(good[0])
    unknown[4] = 250  # a message type no layout declares
    with bus.Consumer("market_data", servers=server.url) as consumer:
        publisher = RawPublisher(server.url)
        try:
            publisher.publish("alphapulse.market_data.Trade", bytes(bad))
            deadline = time.monotonic() + GUARD
            while not consumer.errors and time.monotonic() < deadline:
                with pytest.raises(RelayTimeoutError):
                    consumer.recv(timeout=0.05)
            publisher.publish("alphapulse.market_data.Trade", bytes(unknown))
            publisher.publish("alphapulse.market_data.Trade", good[1])
            assert consumer.recv(timeout=GUARD).to_bytes() == good[1]
        finally:
            publisher.close()
        assert [(e.offset, e.length) for e in consumer.errors] == [(0, 64), (0, 64)]
        assert "checksum" in consumer.errors[0].kind.lower()
        assert consumer.gaps == []


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=60))
def test_a_frame_alone_counts_as_in_a_batch_of_one(frames):
    alone, batched = _frames.SequenceTracker(), _frames.SequenceTracker()
    for source, sequence in frames:
        one = alone.observe_one(source, sequence)
        assert ([one] if one else []) == batched.observe(np.array([source]), np.array([sequence]))
    assert alone.expected == batched.expected


class RawPublisher:
    """A bare nats-py publisher: messages exactly as given, whatever they hold."""

    def __init__(self, url: str) -> None:
        import nats
        self._loop = bus._LoopThread("raw-publisher")
        self._connection = self._loop.run(nats.connect(url))

    def publish(self, subject: str, payload: bytes) -> None:
        async def publish() -> None:
            await self._connection.publish(subject, payload)
            await self._connection.flush()

        self._loop.run(publish())

    def close(self) -> None:
        self._loop.run(self._connection.close())
        self._loop.stop()


class RawSubscriber:
    """A bare nats-py subscriber on `subject`: the messages exactly as the server carries them."""

    def __init__(self, url: str, subject: str) -> None:
        import nats
        self.messages: list[tuple[str, bytes]] = []
        self._loop = bus._LoopThread("raw")

        async def start():
            connection = await nats.connect(url)
            await connection.subscribe(subject, cb=self._arrived)
            await connection.flush()
            return connection

        self._connection = self._loop.run(start())

    async def _arrived(self, message) -> None:
        self.messages.append((message.subject, message.data))

    def wait_for(self, frames: int) -> None:
        deadline = time.monotonic() + GUARD
        while sum(len(split(d)) for _, d in self.messages) < frames \
                and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._loop.run(self._connection.close())
        self._loop.stop()


def test_frames_travel_on_subjects_named_by_type_in_batches_never_split(server):
    raw = RawSubscriber(server.url, "alphapulse.market_data.>")
    try:
        mixed = trades(3) + quote(4) + quote(5) + trades(10, first=6)
        with bus.Producer("market_data", servers=server.url, batch_bytes=200) as producer:
            producer.send_batch(mixed)
        raw.wait_for(15)
    finally:
        raw.close()
    # runs of one type, each cut into messages of at most 200 bytes of whole frames
    assert [(s, len(d)) for s, d in raw.messages] == (
        [("alphapulse.market_data.Trade", 192), ("alphapulse.market_data.Quote", 2 * len(quote(4)))]
        + [("alphapulse.market_data.Trade", 192)] * 3 + [("alphapulse.market_data.Trade", 64)])
    assert b"".join(d for _, d in raw.messages) == mixed


def test_a_consumer_of_some_types_subscribes_to_their_subjects_only(server):
    with bus.Consumer("market_data", servers=server.url, types=["Quote"]) as quotes, \
            bus.Consumer("market_data", servers=server.url,
                         types=[ap.MessageType.Trade]) as trade_consumer:
        with bus.Producer("market_data", servers=server.url) as producer:
            producer.send_batch(trades(5) + quote(6) + trades(2, first=7))
        assert quotes.recv_bytes(timeout=GUARD) == quote(6)
        assert receive(trade_consumer, 7) == trades(5) + trades(2, first=7)
        assert quotes.recv_bytes(timeout=0.2) == b""


def test_sources_are_filtered_on_receipt(server):
    with bus.Consumer("market_data", servers=server.url, sources=[9]) as consumer:
        with bus.Producer("market_data", servers=server.url) as producer:
            producer.send_batch(trades(50, source=5) + trades(20, source=9))
        assert receive(consumer, 20) == trades(20, source=9)
        assert consumer.recv_bytes(timeout=0.2) == b""


def test_a_jump_in_a_sources_sequences_is_a_gap(server):
    with bus.Consumer("market_data", servers=server.url) as consumer:
        with bus.Producer("market_data", servers=server.url) as producer:
            producer.send_batch(trades(10, source=3, first=1))
            producer.send_batch(trades(10, source=3, first=16))  # 11-15 never sent
        receive(consumer, 20)
        assert [(g.source, g.reason, g.first, g.last, g.frames_lost, g.reported)
                for g in consumer.gaps] == [(3, GapReason.SequenceJump, 11, 15, 5, False)]
        assert consumer.frames_lost == 5


def test_recv_batch_decodes_and_max_frames_keeps_the_rest(server):
    with bus.Consumer("market_data", servers=server.url) as consumer:
        with bus.Producer("market_data", servers=server.url) as producer:
            producer.send_batch(trades(100))
        deadline = time.monotonic() + GUARD
        first = consumer.recv_batch(max_frames=30, timeout=GUARD)
        assert list(first[ap.MessageType.Trade]["header"]["sequence"]) == list(range(1, 31))
        rest = []
        while len(rest) < 70 and time.monotonic() < deadline:
            rest += list(consumer.recv_batch(timeout=GUARD)[ap.MessageType.Trade]["header"]
                         ["sequence"])
        assert rest == list(range(31, 101))


def test_a_malformed_batch_is_refused_whole_with_its_offset(server):
    frames = bytearray(trades(3))
    frames[64 + 40] ^= 0xFF  # the second frame's body: its checksum no longer matches
    with bus.Producer("market_data", servers=server.url) as producer:
        with pytest.raises(ParseError) as caught:
            producer.send_batch(bytes(frames))
        assert "byte offset 64" in str(caught.value)
        with pytest.raises(ParseError):
            producer.send(b"\x00" * 10)
        assert producer.frames_sent == 0


def test_a_message_over_the_servers_payload_limit_is_a_clear_error(server):
    with bus.Producer("market_data", servers=server.url, batch_frames=100_000,
                      batch_bytes=4 << 20) as producer:
        with pytest.raises(BusError, match="alphapulse.market_data.Trade"):
            producer.send_batch(trades(20_000))  # 1.28 MB in one message; the server takes 1 MB


def test_a_publish_failing_on_the_loop_thread_is_raised_by_the_next_call(tmp_path):
    own = start_nats(tmp_path)
    producer = bus.Producer("market_data", servers=own.url, batch_frames=1024)
    try:
        producer.send_batch(trades(10))
        producer.flush()
        own.stop()  # nats-py holds what is published while it reconnects, up to its limit
        block = trades(1024)
        with pytest.raises(BusError, match="publishing to alphapulse.market_data.Trade failed"):
            deadline = time.monotonic() + GUARD
            while time.monotonic() < deadline:
                producer.send_batch(block)
    finally:
        with contextlib.suppress(BusError):  # what its flush says of a server gone varies
            producer.close()
    assert producer.closed  # and closing a connection the server lost raised nothing else


async def _until_disconnected(*producers) -> None:
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline and not all(p.events.disconnects for p in producers):
        await asyncio.sleep(0.01)  # the asyncio producer's callbacks run on this loop
    assert [p.events.disconnects for p in producers] == [1] * len(producers)


def test_a_flush_with_no_server_connected_raises_instead_of_saying_the_server_has_them(
        tmp_path, run):
    """While nats-py reconnects, its flush writes its buffer to no server and returns: ours
    waits for a server up to flush_timeout, then says that none came."""
    own = start_nats(tmp_path)
    config = nats_config(own.url)

    async def scenario():
        blocking = ap.connect("market_data", "producer", config=config, flush_timeout=0.2)
        asynchronous = await aio.connect("market_data", "producer", config=config,
                                         flush_timeout=0.2)
        try:
            for producer in (blocking, asynchronous):
                producer.send_batch(trades(10)) if producer is blocking else \
                    await producer.send_batch(trades(10))
            assert blocking.flush() == [] and await asynchronous.flush() == []
            own.stop()
            await _until_disconnected(blocking, asynchronous)
            blocking.send_batch(trades(10))  # kept in nats-py's buffer while it reconnects
            await asynchronous.send_batch(trades(10))
            with pytest.raises(BusError, match="flush failed: no server connected within 0.2 s"):
                blocking.flush()
            with pytest.raises(BusError, match="flush failed: no server connected within 0.2 s"):
                await asynchronous.flush()
        finally:
            with contextlib.suppress(BusError):
                blocking.close()
            with contextlib.suppress(BusError):
                await asynchronous.close()

    try:
        run(scenario())
    finally:
        own.stop()
    with pytest.raises(ValueError, match="flush_timeout"):
        bus.Producer("market_data", servers=own.url, flush_timeout=0)


def test_a_consumer_whose_servers_never_come_back_is_told_rather_than_left_waiting(
        tmp_path, run):
    """Once nats-py has spent its reconnection attempts and closed the connection, a recv
    waiting without a timeout (blocking or asyncio) raises BusConnectionError: no frame can
    come any more."""
    own = start_nats(tmp_path)
    config = nats_config(own.url)
    try:
        consumer = ap.connect("market_data", "consumer", config=config, reconnect_attempts=1)

        async def scenario():
            asynchronous = await aio.connect("market_data", "consumer", config=config,
                                             reconnect_attempts=1)
            ended: dict[str, str] = {}

            def wait() -> None:
                try:
                    ended["blocking"] = repr(consumer.recv())
                except Exception as error:
                    ended["blocking"] = type(error).__name__

            reader = threading.Thread(target=wait, daemon=True)
            reader.start()
            own.stop()
            with pytest.raises(BusConnectionError, match="no server of nats://127.0.0.1:"
                                                         r"\d+ took it back"):
                await asyncio.wait_for(asynchronous.recv(), GUARD)
            reader.join(GUARD)
            assert ended == {"blocking": "BusConnectionError"}
            with pytest.raises(BusConnectionError):
                consumer.recv(timeout=0.05)  # not a timeout: the bus is gone
            await asynchronous.close()

        run(scenario())
        consumer.close()
        with pytest.raises(RelayClosedError):
            consumer.recv(timeout=0.05)
    finally:
        own.stop()


def test_no_server_is_a_clear_connection_error():
    port = free_port()
    with pytest.raises(BusConnectionError) as caught:
        bus.Producer("market_data", servers=[f"nats://127.0.0.1:{port}"], connect_timeout=1)
    assert f"nats://127.0.0.1:{port}" in str(caught.value)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="domain"):
        bus.Producer("market.data")
    with pytest.raises(ValueError, match="subject_prefix"):
        bus.Consumer("market_data", subject_prefix="a..b")
    with pytest.raises(ValueError, match="types: unknown name"):
        bus.Consumer("market_data", types=["NoSuchType"])
    with pytest.raises(ValueError, match="jetstream"):
        bus.Consumer("market_data", start_sequence=1)


def test_jetstream_replays_from_a_sequence_and_from_a_time(server):
    with bus.Producer("execution", servers=server.url, jetstream=True,
                      batch_frames=10) as producer:
        producer.send_batch(trades(30, source=2))           # stream sequences 1-3
        producer.flush()
        time.sleep(0.05)  # the server's clock must move on between the two halves
        middle = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(0.05)
        producer.send_batch(trades(30, source=2, first=31))  # stream sequences 4-6
    with bus.Consumer("execution", servers=server.url, jetstream=True,
                      start_sequence=1) as everything:
        assert receive(everything, 60) == trades(30, source=2) + trades(30, source=2, first=31)
        assert everything.stream_sequence == 6
        assert everything.gaps == []
    with bus.Consumer("execution", servers=server.url, jetstream=True,
                      start_sequence=3) as from_third:
        assert receive(from_third, 40) == trades(10, source=2, first=21) + trades(
            30, source=2, first=31)
    with bus.Consumer("execution", servers=server.url, jetstream=True,
                      start_time=middle) as since:
        assert receive(since, 30) == trades(30, source=2, first=31)


def test_a_jetstream_consumer_of_several_types_replays_every_frame_of_each(server):
    sent_trades, sent_quotes = bytearray(), bytearray()
    with bus.Producer("typed", servers=server.url, jetstream=True, batch_frames=10) as producer:
        for i in range(5):   # Trades and Quotes alternate in the stream, sequences 1-10
            sent_trades += trades(10, first=10 * i + 1)
            producer.send_batch(trades(10, first=10 * i + 1))
            producer.flush()
            sent_quotes += quote(i + 1)
            producer.send(ap.decode(quote(i + 1)))
            producer.flush()
    with bus.Consumer("typed", servers=server.url, jetstream=True, start_sequence=1,
                      types=["Trade", "Quote"]) as consumer:
        got = split(receive(consumer, 55))
    # one ordered consumer per subject: each type in stream order, the two interleaved anyhow
    assert b"".join(f for f in got if f[4] == ap.MessageType.Trade) == sent_trades
    assert b"".join(f for f in got if f[4] == ap.MessageType.Quote) == sent_quotes
    assert consumer.stream_sequence == 10


def delete_from_stream(url: str, stream: str, sequence: int) -> None:
    """Removes one message from a JetStream stream, with bare nats-py, as its limits would."""
    import nats
    loop = bus._LoopThread("delete")

    async def delete() -> None:
        connection = await nats.connect(url)
        await connection.jetstream().delete_msg(stream, sequence)
        await connection.close()

    try:
        loop.run(delete())
    finally:
        loop.stop()


def test_messages_gone_from_the_stream_are_a_dropped_gap(server):
    with bus.Producer("dropped", servers=server.url, jetstream=True,
                      batch_frames=10) as producer:
        producer.send_batch(trades(50, source=4))  # stream sequences 1-5, 10 frames each
        stream = producer.stream
    delete_from_stream(server.url, stream, 3)      # frames 21-30
    with bus.Consumer("dropped", servers=server.url, jetstream=True,
                      start_sequence=1) as consumer:
        assert receive(consumer, 40) == trades(20, source=4) + trades(20, source=4, first=31)
        assert [(g.source, g.reason, g.first, g.last, g.frames_lost, g.reported)
                for g in consumer.gaps] == [(None, GapReason.Dropped, 3, 3, None, True),
                                            (4, GapReason.SequenceJump, 21, 30, 10, False)]


def until_elected(connect):
    """JetStream answers once the cluster has elected its leaders (again, after a loss)."""
    deadline = time.monotonic() + 2 * GUARD
    while True:
        try:
            return connect()
        except BusError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_a_cluster_losing_a_node_mid_stream_fails_over_and_jetstream_loses_nothing(tmp_path):
    with nats_cluster(tmp_path) as nodes:
        urls = [node.url for node in nodes]
        producer = until_elected(lambda: bus.Producer(
            "execution", servers=urls, jetstream=True, replicas=3, batch_frames=100))
        with producer:
            live = bus.Consumer("execution", servers=urls)  # core NATS, on the first node
            producer.send_batch(trades(1000, source=4))
            producer.flush()
            nodes[0].stop()  # both clients were connected to it
            sent = 1000
            deadline = time.monotonic() + GUARD
            while producer.events.reconnects == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            while time.monotonic() < deadline:
                try:
                    producer.send_batch(trades(1000, source=4, first=sent + 1))
                    producer.flush()
                    sent += 1000
                    break
                except Exception:  # acks of the moment the node went
                    time.sleep(0.25)
            assert producer.events.reconnects >= 1
            live.close()
        with until_elected(lambda: bus.Consumer("execution", servers=urls[1:], jetstream=True,
                                                start_sequence=1)) as replay:
            got = receive(replay, sent)
            while True:  # and any copies stored by a resend
                more = replay.recv_bytes(timeout=0.5)
                if not more:
                    break
                got += more
        sequences = [int.from_bytes(f[12:20], "little") for f in split(got)]
        # a batch sent again after its acks went with the node may be stored twice: nothing
        # is missing, and each frame first comes in order
        assert list(dict.fromkeys(sequences)) == list(range(1, sent + 1))
        assert sent == 2000


# ---- the asyncio clients (aio.connect), on asyncio's loop and uvloop's ------------------------

def nats_config(url: str, **domains):
    """Every domain on NATS at `url`; `domains` adds keys to a domain's own section."""
    return ap.load_transport_config({"transport": "nats", "servers": [url], **{
        domain: {"transport": "nats", "servers": [url], **keys}
        for domain, keys in domains.items()}})


def worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("alphapulse-", "nats-"))]


def test_aio_connect_gives_clients_on_the_callers_loop(run, server):
    config = nats_config(server.url)
    mixed = trades(50) + quote(51) + trades(20, first=52)

    async def scenario():
        before = worker_threads()
        async with await aio.connect("market_data", "consumer", config=config) as everything, \
                await aio.connect("market_data", "consumer", config=config,
                                  types=["Quote"]) as quotes:
            async with await aio.connect("market_data", "producer", config=config,
                                         batch_frames=16) as producer:
                assert isinstance(producer, nats_aio.AsyncProducer)
                assert isinstance(everything, nats_aio.AsyncConsumer)
                assert worker_threads() == before  # nothing runs on a thread of its own
                assert await producer.send_batch(mixed) == 71
                await producer.send(ap.decode(quote(72)))
                assert await producer.flush() == []
            got = bytearray()
            while len(got) < len(mixed) + len(quote(72)):
                got += await everything.recv_bytes(timeout=GUARD)
            assert (await quotes.recv()).to_bytes() == quote(51)
            assert (await quotes.recv_batch(timeout=GUARD))[ap.MessageType.Quote][
                "header"]["sequence"].tolist() == [72]
            with pytest.raises(RelayTimeoutError, match="no frame within 0.05 s"):
                await quotes.recv(timeout=0.05)
            assert everything.gaps == []
        assert everything.closed and producer.closed
        with pytest.raises(RelayClosedError):
            await everything.recv_bytes(timeout=0.05)
        with pytest.raises(RelayClosedError):
            await producer.send_batch(trades(1))
        return bytes(got)

    assert run(scenario()) == mixed + quote(72)


def test_aio_consumer_waiting_wakes_for_what_arrives_and_reports_a_gap(run, server):
    config = nats_config(server.url)

    async def scenario():
        async with await aio.connect("signals", "consumer", config=config) as consumer:
            waiting = asyncio.ensure_future(consumer.recv(timeout=GUARD))
            async with await aio.connect("signals", "producer", config=config) as producer:
                await asyncio.sleep(0.01)
                await producer.send_batch(trades(3, source=7))
                await producer.send_batch(trades(2, source=7, first=9))  # 4-8 never sent
            first = await waiting
            rest = []
            async for message in consumer:
                rest.append(message.header.sequence)
                if len(rest) == 4:
                    break
            gaps = [(g.source, g.reason, g.first, g.last, g.frames_lost) for g in consumer.gaps]
            return first.header.sequence, rest, gaps

    assert run(scenario()) == (1, [2, 3, 9, 10], [(7, GapReason.SequenceJump, 4, 8, 5)])


def test_aio_producer_refuses_bad_frames_and_messages_over_the_payload_limit(run, server):
    config = nats_config(server.url)
    damaged = bytearray(trades(3))
    damaged[64 + 40] ^= 0xFF

    async def scenario():
        async with await aio.connect("market_data", "producer", config=config,
                                     batch_frames=100_000, batch_bytes=4 << 20) as producer:
            with pytest.raises(ParseError, match="byte offset 64"):
                await producer.send_batch(bytes(damaged))
            with pytest.raises(BusError, match="alphapulse.market_data.Trade"):
                await producer.send_batch(trades(20_000))  # 1.28 MB; the server takes 1 MB
            return producer.frames_sent

    assert run(scenario()) == 0


STREAMS = itertools.count()  # a stream of each test's own on the server the tests share


def test_aio_jetstream_replays_from_a_sequence(run, server):
    prefix = f"aio{next(STREAMS)}"
    config = nats_config(server.url, execution={"jetstream": True, "subject_prefix": prefix})

    async def scenario():
        async with await aio.connect("execution", "producer", config=config,
                                     batch_frames=10) as producer:
            await producer.send_batch(trades(30, source=2))     # stream sequences 1-3
            assert producer.stream == f"{prefix.upper()}_EXECUTION"
        async with await aio.connect("execution", "consumer", config=config,
                                     start_sequence=2) as replay:
            got = bytearray()
            while len(got) < 20 * 64:
                got += await replay.recv_bytes(timeout=GUARD)
            return bytes(got), replay.stream_sequence

    assert run(scenario()) == (trades(20, source=2, first=11), 3)


# ---- cutting a producer's buffer into messages ------------------------------------------------

@given(parts=st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=8),
       batch_frames=st.integers(1, 50), batch_bytes=st.integers(1, 3000),
       by_type=st.booleans())
def test_a_buffer_is_cut_as_the_full_decode_cuts_it(parts, batch_frames, batch_bytes, by_type):
    buffer = b"".join(trades(n, first=n) if is_trade else quote(n) for is_trade, n in parts)
    cutter = _frames.Cutter(True, by_type, batch_frames, batch_bytes)
    cut = cutter.pieces(buffer)
    assert cutter.pieces(bytearray(buffer)) == cutter.pieces(memoryview(buffer)) == cut
    found = _frames.checked_index(buffer) if buffer else None
    assert sum(frames for *_, frames in cut) == (found.frames if found else 0)
    start = 0
    for message_type, first, end, frames in cut:  # back to back, whole frames, within bounds
        assert first == start
        got = split(buffer[first:end])
        assert len(got) == frames and frames <= batch_frames
        assert end - first <= batch_bytes or frames == 1
        assert all(f[4] == message_type for f in got) if by_type else message_type == 0
        start = end
    assert start == len(buffer)
    sizes = {len(f) for f in split(buffer)}
    if len(sizes) <= 1 or by_type and len({f[4] for f in split(buffer)}) > 1:
        # one size of frame, or the full decode's path itself: the same messages exactly
        assert cut == _frames._indexed_pieces(found, by_type, batch_frames, batch_bytes) \
            if found else cut == []


def test_a_buffer_with_a_schema_announcement_takes_the_learning_decode():
    schema = ap.Schema(message_type=233, version=1, name="NatsTick233", fields=[("x", "u32")])
    announced = schema.announce(sequence=1) + ap.Registry().register(schema)(
        x=5, sequence=2).to_bytes()
    cut = _frames.Cutter(True, True, 100, 10_000).pieces(announced)
    assert [(t, frames) for t, _, _, frames in cut] == [(ap.MessageType.SchemaAnnouncement, 1),
                                                        (233, 1)]
    assert 233 not in ap.schemas.default  # learned for that decode only
