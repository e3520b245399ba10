"""One set of producer/consumer tests, run over every transport (tests/transports.py): code
written against one of them runs unchanged on the others. Timeouts only guard against hangs."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from transports import TRANSPORTS

import alphapulse_codec as ap
from alphapulse_codec import aio
from alphapulse_codec.wire.errors import FieldValueError, RelayClosedError, RelayTimeoutError

GUARD = 30.0  # seconds: a hang guard, never a pass/fail on speed
AAPL = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")


@pytest.fixture(params=list(TRANSPORTS))
def transport(request, runtime_dir):
    medium = TRANSPORTS[request.param](runtime_dir)
    yield medium
    medium.close()


def trades(count: int, source: int = ap.SourceType.BinanceCollector, first: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = source
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000 + np.arange(count)
    rows["instrument_id"]["venue"] = int(ap.VenueId.NASDAQ)
    rows["instrument_id"]["asset_type"] = int(ap.AssetType.Stock)
    rows["price"] = np.arange(first, first + count) * 1000
    rows["volume"] = 7
    rows["side"] = int(ap.Side.Buy)
    return ap.encode_batch(rows, ap.MessageType.Trade)


def quote(sequence: int, source: int = ap.SourceType.BinanceCollector) -> bytes:
    return ap.Quote(instrument_id=AAPL, bid_price=1, ask_price=2, bid_size=3, ask_size=4,
                    sequence=sequence, timestamp=1, source=source).to_bytes()


def orders(count: int) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.OrderCancel))
    rows["header"]["source"] = ap.SourceType.PortfolioManager
    rows["header"]["sequence"] = np.arange(1, count + 1)
    rows["client_order_id"] = np.arange(count)
    rows["quantity"] = 1
    return ap.encode_batch(rows)


def frames_of(data: bytes) -> np.ndarray:
    """64-byte frames as rows."""
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, 64)


def receive(consumer, size: int) -> bytes:
    """``size`` bytes of whole frames, read as they come."""
    received = bytearray()
    deadline = time.monotonic() + GUARD
    while len(received) < size:
        assert time.monotonic() < deadline, f"{len(received)} of {size} bytes came"
        received += consumer.recv_bytes(timeout=1.0)
    return bytes(received)


def test_one_message_arrives_field_for_field(transport):
    make_producer, make_consumer = transport.open("market_data")
    sent = ap.Trade(instrument_id=AAPL, price=18_925_000_000, volume=100, side=ap.Side.Sell,
                    source=ap.SourceType.KrakenCollector, sequence=42, timestamp=1_700_000_000)
    with make_consumer() as consumer, make_producer() as producer:
        producer.send(sent)
        assert producer.flush() == []
        received = consumer.recv(timeout=GUARD)
    assert type(received) is ap.Trade
    assert received.asdict() == sent.asdict()
    assert (received.header.source, received.header.sequence, received.header.timestamp) \
        == (ap.SourceType.KrakenCollector, 42, 1_700_000_000)
    assert received.to_bytes() == sent.to_bytes()


def test_a_batch_arrives_byte_for_byte_and_in_order(transport):
    make_producer, make_consumer = transport.open("market_data")
    batches = [trades(1000, first=1 + 1000 * i) for i in range(10)]
    with make_consumer() as consumer, make_producer() as producer:
        assert [producer.send_batch(batch) for batch in batches] == [1000] * 10
        received = receive(consumer, 10_000 * 64)
        assert consumer.recv_bytes(timeout=0.05) == b""
    assert received == b"".join(batches)


def test_recv_batch_decodes_what_came(transport):
    make_producer, make_consumer = transport.open("market_data")
    with make_consumer() as consumer, make_producer() as producer:
        producer.send_batch(trades(100))
        rows = []
        deadline = time.monotonic() + GUARD
        while len(rows) < 100 and time.monotonic() < deadline:
            result = consumer.recv_batch(timeout=1.0)
            if len(result):
                rows.extend(result[ap.MessageType.Trade]["header"]["sequence"].tolist())
    assert rows == list(range(1, 101))


def test_subscriptions_filter_by_type_and_by_source(transport):
    make_producer, make_consumer = transport.open("market_data")
    binance, kraken = ap.SourceType.BinanceCollector, ap.SourceType.KrakenCollector
    mixed = [trades(3, binance, 1), quote(4, binance), trades(2, kraken, 1), quote(2, kraken),
             trades(1, binance, 5)]
    with make_consumer(types=["Quote"]) as quotes, make_consumer(sources=[kraken]) as krakens, \
            make_consumer(types=[ap.MessageType.Trade], sources=[binance]) as binance_trades, \
            make_producer() as producer:
        producer.send_batch(b"".join(mixed))
        assert receive(quotes, 128) == quote(4, binance) + quote(2, kraken)
        assert receive(krakens, 192) == trades(2, kraken, 1) + quote(2, kraken)
        assert receive(binance_trades, 256) == trades(3, binance, 1) + trades(1, binance, 5)
        for consumer in (quotes, krakens, binance_trades):  # and nothing else
            assert consumer.recv_bytes(timeout=0.05) == b""


def test_recv_times_out_with_the_relay_clients_timeout_error(transport):
    _, make_consumer = transport.open("market_data")
    with make_consumer() as consumer:
        with pytest.raises(RelayTimeoutError, match="no frame within"):
            consumer.recv(timeout=0.05)
        assert isinstance(RelayTimeoutError("x"), TimeoutError)
        assert consumer.recv_bytes(timeout=0.05) == b""
        assert len(consumer.recv_batch(timeout=0.05)) == 0


def test_send_refuses_what_is_neither_a_message_nor_bytes_naming_the_argument(transport):
    """An int has a ``to_bytes()`` too, and so has an InstrumentId: neither is a frame. Every
    transport refuses them (and anything else that is no message nor bytes) in the same words,
    numbering producers alike, and sends nothing."""
    make_producer, make_consumer = transport.open("market_data")
    config, keywords = transport.configured
    with make_consumer() as consumer, make_producer() as producer, \
            ap.connect("market_data", "producer", config=config, sequence="auto",
                       **keywords) as numbered:
        for client in (producer, numbered):
            for wrong in (12, AAPL, "a frame", None, [quote(1)]):
                with pytest.raises(FieldValueError, match="^message: expected a Message or one"
                                   f" frame's bytes as a bytes-like object, got"
                                   f" {type(wrong).__name__}$") as refused:
                    client.send(wrong)
                assert refused.value.field == "message"
            with pytest.raises(FieldValueError, match="^buffer: expected frames' bytes .*, got"
                               " list$") as refused:
                client.send_batch([trades(2)])
            assert refused.value.field == "buffer"
            assert client.flush() == []
        assert numbered.next_sequence(ap.SourceType.BinanceCollector) == 1  # none taken
        producer.send(quote(1))
        producer.flush()
        assert receive(consumer, 64) == quote(1)
        assert consumer.recv_bytes(timeout=0.05) == b""


def test_a_closed_client_refuses_to_be_used(transport):
    make_producer, make_consumer = transport.open("market_data")
    producer, consumer = make_producer(), make_consumer()
    assert not producer.closed and not consumer.closed
    producer.close()
    consumer.close()
    assert producer.closed and consumer.closed
    with pytest.raises(RelayClosedError, match="closed"):
        producer.send(trades(1))
    with pytest.raises(RelayClosedError, match="closed"):
        producer.send_batch(trades(2))
    with pytest.raises(RelayClosedError, match="closed"):
        producer.flush()
    with pytest.raises(RelayClosedError, match="closed"):
        consumer.recv(timeout=0.05)
    with pytest.raises(RelayClosedError, match="closed"):
        consumer.recv_bytes(timeout=0.05)
    producer.close()  # closing again is harmless
    consumer.close()


def test_a_close_from_another_thread_ends_the_waits_in_the_consumer(transport):
    """A service's reader thread blocked in recv (or iterating) ends when its owner closes
    the consumer: RelayClosedError, the iteration done, never a hang or a crash."""
    _, make_consumer = transport.open("market_data")
    consumer = make_consumer()
    ended: dict[str, str] = {}

    def wait(name, call) -> None:
        try:
            ended[name] = repr(call())
        except Exception as error:
            ended[name] = type(error).__name__

    readers = [threading.Thread(target=wait, args=("recv", consumer.recv), daemon=True),
               threading.Thread(target=wait, args=("iteration", lambda: list(consumer)),
                                daemon=True)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)  # waiting by now, most likely; a close before their wait ends them alike
    consumer.close()
    for reader in readers:
        reader.join(GUARD)
    assert ended == {"recv": "RelayClosedError", "iteration": "[]"}
    assert consumer.closed and consumer.gaps == []


def test_context_managers_close_the_clients(transport):
    make_producer, make_consumer = transport.open("market_data")
    with make_producer() as producer, make_consumer() as consumer:
        assert not producer.closed and not consumer.closed
    assert producer.closed and consumer.closed


def test_iteration_yields_messages_in_order(transport):
    make_producer, make_consumer = transport.open("market_data")
    with make_consumer() as consumer, make_producer() as producer:
        producer.send_batch(trades(5))
        got = [message.header.sequence for _, message in zip(range(5), consumer)]
    assert got == [1, 2, 3, 4, 5]


def applies(transport, policy: str) -> None:
    if policy in transport.lacks:
        pytest.skip(f"{type(transport).__name__} has no {policy} (docs/transports.md)")


def test_a_consumer_that_falls_behind_on_market_data_is_told_what_it_lost(transport):
    applies(transport, "shedding a slow consumer with gaps")
    make_producer, make_consumer = transport.open("market_data", capacity=1000)
    total = transport.behind_frames
    with make_consumer() as slow, make_producer() as producer:
        for first in range(1, total, 1000):  # it reads nothing meanwhile
            producer.send_batch(trades(1000, first=first))
        sequences: list[int] = []
        deadline = time.monotonic() + GUARD
        while len(sequences) + transport.shed(slow) < total:
            assert time.monotonic() < deadline, (len(sequences), transport.shed(slow))
            data = slow.recv_bytes(timeout=0.2)
            rows = frames_of(data)
            trade_rows = rows[rows[:, 4] == ap.MessageType.Trade]  # gap notices ride along
            sequences.extend(trade_rows[:, 12:20].copy().view("<u8").ravel().tolist())
        lost = transport.shed(slow)
        assert slow.frames_lost == lost  # every lost frame counted once
    assert transport.shed(slow) == lost == slow.frames_lost  # still told once it is closed
    assert lost > 0
    assert len(sequences) + lost == total
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_a_sequence_jump_counts_once_in_frames_lost(transport):
    """A source whose numbering skips 4-6 on execution, which requires sequences: the
    transport's report of the jump and the jump the consumer may see itself are one loss."""
    applies(transport, "telling of a source's sequence jumps")
    make_producer, make_consumer = transport.open("execution")
    sent = orders(9)
    size = len(sent) // 9
    kept = sent[:3 * size] + sent[6 * size:]
    with make_consumer() as consumer, make_producer() as producer:
        producer.send_batch(kept)
        producer.flush()
        sequences: list[int] = []
        while len(sequences) < 6:  # the relay's notice rides along
            message = consumer.recv(timeout=GUARD)
            if type(message) is ap.OrderCancel:
                sequences.append(message.header.sequence)
        assert sequences == [1, 2, 3, 7, 8, 9]
        jumps = [(g.source, g.first, g.last, g.frames_lost) for g in consumer.gaps]
        assert (ap.SourceType.PortfolioManager, 4, 6, 3) in jumps
        assert consumer.frames_lost == sum(g.frames_lost for g in consumer.gaps) == 3
    assert consumer.frames_lost == 3


def test_execution_never_loses_a_frame(transport):
    applies(transport, "holding producers back")
    make_producer, make_consumer = transport.open("execution", capacity=500)
    sent = orders(20_000)
    received = bytearray()
    with make_consumer() as consumer, make_producer() as producer:

        def drain() -> None:
            deadline = time.monotonic() + GUARD
            while len(received) < len(sent) and time.monotonic() < deadline:
                received.extend(consumer.recv_bytes(max_frames=300, timeout=1.0))

        reader = threading.Thread(target=drain)
        reader.start()
        for at in range(0, len(sent), 400 * 64):  # more than the consumer may leave unread
            producer.send_batch(sent[at:at + 400 * 64])
        reader.join(GUARD)
        assert not reader.is_alive()
        assert transport.shed(consumer) == 0
    assert bytes(received) == sent


def test_the_asyncio_clients_answer_as_the_blocking_ones(transport):
    """``ap.aio.connect`` over the same configuration: sends, subscription, receiving,
    timeouts, and a close that ends a recv waiting for frames with RelayClosedError (as a
    closed client's every call) and an ``async for`` without an error."""
    transport.open("market_data")
    config, keywords = transport.configured

    async def scenario() -> list[int]:
        consumer = await aio.connect("market_data", "consumer", config=config, types=["Trade"],
                                     **keywords)
        async with await aio.connect("market_data", "producer", config=config,
                                     **keywords) as producer:
            assert await producer.send_batch(trades(3)) == 3
            await producer.send(quote(4))  # not of the subscription
            await producer.send(ap.decode(trades(1, first=5)))
            with pytest.raises(FieldValueError, match="^message: expected a Message"):
                await producer.send(12)
            assert await producer.flush() == []
        got = [(await consumer.recv(timeout=GUARD)).header.sequence for _ in range(4)]
        with pytest.raises(RelayTimeoutError, match="no frame within 0.05 s"):
            await consumer.recv(timeout=0.05)
        waiting = asyncio.ensure_future(consumer.recv())
        await asyncio.sleep(0.05)  # waiting by now, most likely; closed before, it raises too
        await consumer.close()
        with pytest.raises(RelayClosedError, match="closed"):
            await asyncio.wait_for(waiting, GUARD)
        assert [message async for message in consumer] == []
        # a relay consumer of some types sees the others' sequence numbers as a jump (the Quote)
        assert consumer.frames_lost == sum(g.frames_lost or 0 for g in consumer.gaps)
        assert producer.closed and consumer.closed
        with pytest.raises(RelayClosedError, match="closed"):
            await producer.send_batch(trades(1))
        with pytest.raises(RelayClosedError, match="closed"):
            await consumer.recv_bytes(timeout=0.05)
        return got

    assert asyncio.run(scenario()) == [1, 2, 3, 5]
