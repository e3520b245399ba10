"""The in-process channel's own behaviour: the producer's bytes reach consumers uncopied, the
domain's checks and policies, named channels, threads and asyncio. The shared producer/consumer
tests (test_transport_contract.py) run over it too. Timeouts only guard against hangs."""
from __future__ import annotations

import asyncio
import gc
import json
import itertools
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.relay import DOMAINS
from alphapulse_codec.transport import BackpressureTimeout
from alphapulse_codec.transport.channel import Channel, aio_connect, connect
from alphapulse_codec.wire.enums import GapReason, RelayCode
from alphapulse_codec.wire.errors import (BadMagicError, FieldValueError, FrameTooLargeError,
                                          ParseError, RelayClosedError, TruncatedError)

GUARD = 30.0
NAMES = itertools.count()


@pytest.fixture
def channel_of():
    """Makes channels of unique names; closes them at the end."""
    made: list[Channel] = []

    def make(domain: str = "market_data", **options) -> Channel:
        made.append(Channel.get(f"test-{domain}-{next(NAMES)}", domain=domain, **options))
        return made[-1]

    yield make
    for channel in made:
        channel.close()


def trades(count: int, source: int = ap.SourceType.BinanceCollector, first: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = source
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["price"] = np.arange(first, first + count)
    rows["volume"] = 1
    return ap.encode_batch(rows, ap.MessageType.Trade)


def orders(count: int, first: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.OrderCancel))
    rows["header"]["source"] = ap.SourceType.PortfolioManager
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["quantity"] = 1
    return ap.encode_batch(rows)


def sequences(data: bytes) -> list[int]:
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, 64)[:, 12:20].copy().view("<u8") \
        .ravel().tolist()


def test_every_consumer_gets_the_producers_own_bytes_object(channel_of):
    channel = channel_of()
    block = trades(1024)
    first, second = channel.consumer(), channel.consumer()
    channel.producer().send_batch(block)
    assert first.recv_bytes() is block
    assert second.recv_bytes() is block


def test_a_buffer_the_producer_reuses_does_not_change_what_consumers_read(channel_of):
    channel = channel_of()
    consumer, producer = channel.consumer(), channel.producer()
    buffer = bytearray(trades(300))
    producer.send_batch(buffer)
    buffer[:] = bytes(len(buffer))
    assert consumer.recv_bytes() == trades(300)


def test_small_sends_are_read_together_and_a_partial_read_takes_what_was_asked(channel_of):
    channel = channel_of()
    consumer, producer = channel.consumer(), channel.producer()
    frames = trades(10)
    for at in range(0, 640, 64):
        producer.send(frames[at:at + 64])
    assert consumer.recv_bytes(max_frames=4) == frames[:256]
    assert consumer.recv(timeout=GUARD).header.sequence == 5
    assert consumer.recv_bytes() == frames[320:]


def test_frames_the_domain_refuses_are_answered_and_the_rest_delivered(channel_of):
    channel = channel_of("execution")
    consumer, producer = channel.consumer(), channel.producer()
    bad_checksum = bytearray(orders(1, first=3))
    bad_checksum[40] ^= 1
    trade = trades(1)  # market data, not execution
    sent = orders(2) + trade + bytes(bad_checksum) + orders(1, first=4) + orders(1, first=4)
    assert producer.send_batch(sent) == 3
    answers = producer.flush()
    assert [(a.code, a.related_type) for a in answers] == [
        (RelayCode.WrongDomain, ap.MessageType.Trade),
        (RelayCode.BadChecksum, ap.MessageType.OrderCancel),
        (RelayCode.SequenceNotAfter, ap.MessageType.OrderCancel)]
    assert f"frame at byte {len(orders(2))} of this send" in answers[0].text
    assert producer.flush() == [] and len(producer.errors) == 3
    assert consumer.recv_bytes() == orders(2) + orders(1, first=4)


@pytest.mark.parametrize("garbage, error, where", [
    (b"this is not a frame at all, but 40 bytes", BadMagicError, "byte 64"),
    (trades(1)[:40], TruncatedError, "byte 64"),
])
def test_bytes_that_are_not_whole_frames_are_refused_whole(channel_of, garbage, error, where):
    channel = channel_of()
    consumer, producer = channel.consumer(), channel.producer()
    with pytest.raises(error, match=where):
        producer.send_batch(trades(1) + garbage)
    assert consumer.recv_bytes(timeout=0.01) == b""


def test_a_frame_over_the_channels_maximum_is_refused():
    channel = Channel("market_data", max_frame_size=100)
    with pytest.raises(FrameTooLargeError, match="byte 0"):
        channel.producer().send(ap.SchemaAnnouncement(schema_type=200, schema_version=1,
                                                      spec=json.dumps(["x" * 200])).to_bytes())
    with pytest.raises(FieldValueError, match="send takes one frame, got 2"):
        channel.producer().send(trades(2))


def test_a_run_time_type_travels_once_announced_for_the_domain(channel_of):
    channel = channel_of("signals")
    schema = ap.Schema(message_type=233, version=1, name="ChannelSignal233",
                       fields=[("score", "i32"), ("_pad", "pad[4]")], domain="signals")
    elsewhere = ap.Schema(message_type=234, version=1, name="ChannelSignal234",
                          fields=[("score", "i32"), ("_pad", "pad[4]")], domain="execution")
    signal = ap.Registry().register(schema)
    consumer, producer = channel.consumer(), channel.producer()
    producer.send(signal.encode(score=-1, sequence=1))  # not of this domain yet
    producer.send(elsewhere.announce(sequence=2))
    producer.send(schema.announce(sequence=3))
    producer.send(signal.encode(score=7, sequence=4))
    assert consumer.recv_bytes() == schema.announce(sequence=3) + signal.encode(score=7,
                                                                                 sequence=4)
    assert [(e.code, e.related_type) for e in producer.flush()] == [
        (RelayCode.WrongDomain, 233), (RelayCode.SchemaRefused, ap.MessageType.SchemaAnnouncement)]


def test_sequence_auto_numbers_per_source_and_a_new_producer_goes_on(channel_of):
    channel = channel_of()
    consumer = channel.consumer()
    unnumbered = trades(3, first=0)
    binance = ap.SourceType.BinanceCollector
    with channel.producer(source=binance, sequence="auto") as first:
        first.send_batch(unnumbered)
        assert first.next_sequence() == 4
        assert first.next_sequence(ap.SourceType.KrakenCollector) == 1
    with channel.producer(source=binance, sequence="auto") as second:
        assert second.next_sequence() == 4  # the channel says where the source stopped
        second.send_batch(unnumbered)
    received = consumer.recv_bytes()
    assert sequences(received) == [1, 2, 3, 4, 5, 6]
    assert all(ap.decode(received[at:at + 64]) for at in range(0, len(received), 64))  # resealed


def test_a_market_data_consumer_loses_only_what_it_subscribed_to_counted_per_source(channel_of):
    channel = channel_of(capacity=1000)
    binance, kraken = ap.SourceType.BinanceCollector, ap.SourceType.KrakenCollector
    watcher = channel.consumer(sources=[kraken])
    everything = channel.consumer()
    producer = channel.producer()
    for first in range(1, 4001, 500):
        producer.send_batch(trades(500, binance, first) + trades(500, kraken, first))
    kept = everything.recv_bytes()
    by_source = {(g.source, g.reason) for g in everything.gaps}
    assert by_source == {(binance, GapReason.Shed), (kraken, GapReason.Shed)}
    assert all(g.reported and g.last - g.first + 1 == g.frames_lost for g in everything.gaps)
    assert len(kept) // 64 + sum(g.frames_lost for g in everything.gaps) == 8000
    assert everything.frames_lost == sum(g.frames_lost for g in everything.gaps)
    assert {g.source for g in watcher.gaps} == {kraken}
    watched = watcher.recv_bytes()
    assert len(watched) // 64 + sum(g.frames_lost for g in watcher.gaps) == 4000


def test_an_execution_producer_gives_up_with_a_clear_error_and_sends_nothing(channel_of):
    channel = channel_of("execution", capacity=100)
    stalled = channel.consumer(name="stalled")
    producer = channel.producer(timeout=0.05)
    producer.send_batch(orders(80))
    with pytest.raises(BackpressureTimeout, match=r"stalled, has 80 unread\)") as raised:
        producer.send_batch(orders(40, first=81))
    assert isinstance(raised.value, TimeoutError)
    assert "no room for the frames within 0.05 s" in str(raised.value)
    assert stalled.recv_bytes() == orders(80)
    producer.send_batch(orders(40, first=81))  # room again, and the numbers still fit
    assert stalled.recv_bytes() == orders(40, first=81)
    with pytest.raises(FieldValueError, match="over the .* capacity of 100"):
        producer.send_batch(orders(101, first=200))
    stalled.close()  # a closed consumer holds nobody back
    assert producer.send_batch(orders(100, first=300)) == 100
    forgotten = channel.consumer()
    producer.send_batch(orders(100, first=400))
    del forgotten  # nor does one dropped without close
    gc.collect()
    assert producer.send_batch(orders(100, first=500)) == 100


def test_a_sequence_jump_on_execution_is_reported_to_consumers_of_that_source(channel_of):
    channel = channel_of("execution")
    consumer, producer = channel.consumer(), channel.producer()
    producer.send_batch(orders(2) + orders(1, first=6))
    assert [(g.reason, g.first, g.last, g.frames_lost, g.reported) for g in consumer.gaps] == [
        (GapReason.SequenceJump, 3, 5, 3, True)]


def test_named_channels_are_the_processes_own():
    named = Channel.get("test-named", domain="signals")
    try:
        assert Channel.get("test-named", domain="signals") is named
        with pytest.raises(FieldValueError, match="carries signals, not execution"):
            Channel.get("test-named", domain="execution")
    finally:
        named.close()
    market = Channel.get("market_data")
    try:
        assert Channel.get("market_data") is market
        with pytest.raises(FieldValueError, match="exists with capacity"):
            Channel.get("market_data", capacity=market.capacity + 1)
        with connect("market_data", "consumer") as consumer, \
                connect("market_data", "producer") as producer:
            producer.send_batch(trades(3))
            assert consumer.recv_bytes() == trades(3)
    finally:
        market.close()
    assert Channel.get("market_data") is not market
    Channel.get("market_data").close()


def test_a_closed_channel_lets_consumers_finish_then_ends_their_iteration(channel_of):
    channel = channel_of()
    consumer, producer = channel.consumer(), channel.producer()
    producer.send_batch(trades(3))
    channel.close()
    with pytest.raises(RelayClosedError, match="closed"):
        producer.send_batch(trades(1))
    assert [m.header.sequence for m in consumer] == [1, 2, 3]
    with pytest.raises(RelayClosedError):
        channel.consumer()


@pytest.mark.parametrize("call, message", [
    (lambda c: c.consumer().recv_bytes(max_frames=0), "max_frames: expected a positive"),
    (lambda c: c.consumer().recv(timeout=-1), "timeout: expected seconds"),
    (lambda c: c.consumer(types=["NoSuchType"]), "names no MessageType"),
    (lambda c: c.producer(sequence="yes"), "sequence"),
    (lambda c: connect("market_data", "reader"), "role"),
    (lambda c: connect("nowhere", "consumer"), "domain"),
    (lambda c: Channel("market_data", capacity=0), "capacity"),
])
def test_bad_arguments_are_refused_by_name(channel_of, call, message):
    with pytest.raises(FieldValueError, match=message):
        call(channel_of())


def test_threads_each_get_every_frame_in_each_producers_order(channel_of):
    channel = channel_of(capacity=10_000_000)
    sources = [ap.SourceType.BinanceCollector, ap.SourceType.KrakenCollector,
               ap.SourceType.CoinbaseCollector]
    consumers = [channel.consumer() for _ in range(2)]
    received = [bytearray() for _ in consumers]
    total = 3 * 20 * 500

    def read(index: int) -> None:
        while len(received[index]) < total * 64:
            received[index].extend(consumers[index].recv_bytes(timeout=GUARD))

    def write(source: int) -> None:
        producer = channel.producer()
        for first in range(1, 10_001, 500):
            producer.send_batch(trades(500, source, first))

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)] + \
        [threading.Thread(target=write, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
    for data in received:
        rows = np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, 64)
        for source in sources:
            mine = rows[rows[:, 6] == source]
            assert mine.tobytes() == b"".join(trades(500, source, f)
                                              for f in range(1, 10_001, 500))


def test_asyncio_consumers_wait_without_holding_up_the_loop(channel_of):
    channel = channel_of()

    async def main() -> tuple[bytes, int]:
        consumer = await aio_connect("market_data", "consumer", channel=channel.name)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        # a producer in another thread, once the consumer is waiting
        timer = threading.Timer(0.1, lambda: channel.producer().send_batch(trades(5)))
        timer.start()
        async with consumer:
            data = await consumer.recv_bytes(timeout=GUARD)
        ticker.cancel()
        timer.join()
        return data, ticks

    data, ticks = asyncio.run(main())
    assert data == trades(5)
    assert ticks > 1  # the loop ran while the consumer waited


def test_an_asyncio_execution_producer_awaits_room_that_a_consumer_task_makes(channel_of):
    channel = channel_of("execution", capacity=100)
    sent = orders(1000)

    async def main() -> bytes:
        producer = await aio_connect("execution", "producer", channel=channel.name, timeout=GUARD)
        consumer = await aio_connect("execution", "consumer", channel=channel.name)
        received = bytearray()

        async def drain() -> None:
            while len(received) < len(sent):
                received.extend(await consumer.recv_bytes(max_frames=30, timeout=GUARD))

        reader = asyncio.create_task(drain())
        async with producer:
            for at in range(0, len(sent), 64 * 80):
                await producer.send_batch(sent[at:at + 64 * 80])
            assert await producer.flush() == []
        await asyncio.wait_for(reader, GUARD)
        async with consumer:
            assert consumer.gaps == []
        return bytes(received)

    assert asyncio.run(main()) == sent


def test_asyncio_iteration_ends_when_the_channel_closes(channel_of):
    channel = channel_of()

    async def main() -> list[int]:
        consumer = await aio_connect("market_data", "consumer", channel=channel.name)
        channel.producer().send_batch(trades(3))
        channel.close()
        async with consumer:
            return [message.header.sequence async for message in consumer]

    assert asyncio.run(main()) == [1, 2, 3]


def split(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        size = 32 + int.from_bytes(data[at + 8:at + 12], "little")
        frames.append(data[at:at + size])
        at += size
    return frames


@settings(max_examples=200)
@given(garbage=st.binary(max_size=300), cut=st.integers(0, 640))
def test_hostile_bytes_raise_a_parse_error_or_pass_as_the_domains_whole_frames(garbage, cut):
    channel = Channel("market_data", capacity=1000)
    consumer, producer = channel.consumer(), channel.producer()
    sent = (trades(10) + garbage)[cut:]
    try:
        producer.send_batch(sent)
    except ParseError:
        assert consumer.recv_bytes(timeout=0) == b""  # refused whole
        return
    frames = split(sent)  # whole frames: the channel said so
    of_the_domain = [f for f in frames if f[4] in DOMAINS["market_data"]]
    assert split(consumer.recv_bytes(timeout=0)) == of_the_domain
    assert len(producer.flush()) == len(frames) - len(of_the_domain)  # each other one answered
