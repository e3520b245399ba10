"""Domain relays with real processes and real sockets: delivery, refusals, sequences, garbage."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.relay import Gap, connect
from alphapulse_codec.wire.enums import GapReason, RelayCode
from alphapulse_codec.wire.errors import RelayError, RelayTimeoutError
from frames import zeroed

RECEIVE_TIMEOUT = 30.0  # upper bound against a hang, never a measure


def trades(count: int, source: int = ap.SourceType.BinanceCollector, first_sequence: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = source
    rows["header"]["sequence"] = np.arange(first_sequence, first_sequence + count)
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000 + np.arange(count)
    rows["price"] = np.arange(count) * 7 + 100
    rows["volume"] = 3
    rows["side"] = 1
    return ap.encode_batch(rows)


def receive_bytes(consumer, total: int) -> bytes:
    """Frames from the consumer until ``total`` bytes came (or the timeout, as a failure)."""
    data = bytearray()
    while len(data) < total:
        chunk = consumer.recv_bytes(timeout=RECEIVE_TIMEOUT)
        assert chunk, f"only {len(data)} of {total} bytes arrived"
        data += chunk
    return bytes(data)


def test_frames_arrive_byte_for_byte(runtime_dir, relays):
    relays("market_data")
    sent = trades(5000)
    with connect("market_data", "consumer", runtime_dir=runtime_dir, name="reader") as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir, name="feed") as producer:
        producer.send_batch(sent[:64 * 100])
        for at in range(64 * 100, len(sent), 64):
            producer.send(sent[at:at + 64])
        producer.send(ap.decode(sent[:64]).replace(price=5))
        received = receive_bytes(consumer, len(sent) + 64)
    assert received[:len(sent)] == sent
    assert ap.decode(received[len(sent):]).price == 5


def test_recv_and_recv_batch_decode_what_was_sent(runtime_dir, relays):
    relays("market_data")
    sent = trades(300)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(sent)
        first = consumer.recv(timeout=RECEIVE_TIMEOUT)
        assert first.to_bytes() == sent[:64]
        rows = []
        while sum(len(r) for r in rows) < 299:
            batch = consumer.recv_batch(max_frames=100, timeout=RECEIVE_TIMEOUT)
            assert len(batch) <= 100
            rows.append(batch[ap.MessageType.Trade])
    prices = np.concatenate([r["price"] for r in rows])
    assert prices.tolist() == [i * 7 + 100 for i in range(1, 300)]


def test_recv_takes_any_timeout_a_caller_may_give(runtime_dir, relays):
    relays("market_data")
    sent = trades(2)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send(sent[:64])
        # a year: longer than one poll can wait
        assert consumer.recv(timeout=365 * 86_400.0).to_bytes() == sent[:64]
        producer.send(sent[64:])
        assert consumer.recv(timeout=None).to_bytes() == sent[64:]
        with pytest.raises(RelayTimeoutError, match="no frame within 0.05 s"):
            consumer.recv(timeout=0.05)


@pytest.mark.parametrize("count", [0, -5, 1.5, True])
def test_a_receive_of_no_frames_is_refused_not_waited_for(runtime_dir, relays, count):
    relays("market_data")
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(trades(2))  # frames there: none of them can be taken
        for receive in (consumer.recv_bytes, consumer.recv_batch):
            with pytest.raises(ap.FieldValueError, match="max_frames: expected a positive integer"):
                receive(count)  # recv_bytes took every frame there, as if unbounded


@pytest.mark.parametrize("timeout", [-1, 0, float("nan"), float("inf"), "5"])
def test_finish_refuses_a_timeout_that_is_no_time_and_stays_open(runtime_dir, relays, timeout):
    relays("market_data")
    sent = trades(2)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        with pytest.raises(ap.FieldValueError, match="timeout: .*expected a positive number"):
            producer.finish(timeout)
        producer.send_batch(sent)  # nothing was closed: the producer goes on
        assert producer.finish() == []
        assert receive_bytes(consumer, len(sent)) == sent


def test_a_consumer_behind_by_more_than_its_buffer_takes_every_frame_in_order(runtime_dir, relays):
    # 6.4 MB queued before the consumer reads: more than its 4 MiB buffer holds at once, taken
    # one frame at a time with recv, then the rest with recv_batch and recv_bytes
    relays("market_data")
    sent = trades(100_000)
    with connect("market_data", "consumer", runtime_dir=runtime_dir, name="late") as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir, name="feed") as producer:
        producer.send_batch(sent)
        producer.finish()
        sequences = [consumer.recv(timeout=RECEIVE_TIMEOUT).header.sequence for _ in range(70_000)]
        batch = consumer.recv_batch(max_frames=10_000, timeout=RECEIVE_TIMEOUT)
        sequences += batch[ap.MessageType.Trade]["header"]["sequence"].tolist()
        rest = receive_bytes(consumer, len(sent) - 64 * len(sequences))
    assert sequences == list(range(1, len(sequences) + 1))
    assert rest == sent[64 * len(sequences):]
    assert consumer.gaps == []


def test_subscription_filters_types_and_sources(runtime_dir, relays):
    relays("market_data")
    quote = zeroed(ap.Quote, instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"), bid_price=1,
                     ask_price=2, sequence=1, source=ap.SourceType.KrakenCollector).to_bytes()
    binance = trades(10)
    kraken = trades(10, source=ap.SourceType.KrakenCollector)
    with connect("market_data", "consumer", runtime_dir=runtime_dir, types=["Trade"],
                 sources=[ap.SourceType.KrakenCollector]) as kraken_trades, \
            connect("market_data", "consumer", runtime_dir=runtime_dir,
                    types=[ap.MessageType.Quote]) as quotes, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(binance + quote + kraken)
        assert receive_bytes(kraken_trades, len(kraken)) == kraken
        assert receive_bytes(quotes, len(quote)) == quote


def test_one_type_or_source_alone_subscribes_to_it_as_on_every_transport(runtime_dir, relays):
    relays("market_data")
    quote = zeroed(ap.Quote, bid_price=1, ask_price=2, sequence=1,
                   source=ap.SourceType.KrakenCollector).to_bytes()
    kraken = trades(10, source=ap.SourceType.KrakenCollector)
    with connect("market_data", "consumer", runtime_dir=runtime_dir, types="Quote") as quotes, \
            connect("market_data", "consumer", runtime_dir=runtime_dir, types=ap.MessageType.Trade,
                    sources="KrakenCollector") as kraken_trades, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(trades(10) + quote + kraken)
        assert receive_bytes(quotes, len(quote)) == quote
        assert receive_bytes(kraken_trades, len(kraken)) == kraken
    with pytest.raises(ap.FieldValueError, match=r"^source: 300 is not a number from 0 to 255$"):
        connect("market_data", "producer", runtime_dir=runtime_dir, source=300)


@pytest.mark.parametrize("types, refused", [
    (["Fill"], "Fill is an execution type (42), not a market_data type (1-19)"),
    ([ap.MessageType.Trade, 42], "Fill is an execution type (42), not a market_data type (1-19)"),
    (["Quote", "Heartbeat"], "Heartbeat is a system type (100), not a market_data type (1-19)"),
])
def test_a_consumer_of_another_domains_type_is_refused_before_connecting(
        runtime_dir, relays, types, refused):
    relays("market_data")
    with pytest.raises(ap.FieldValueError, match=rf"^types: {re.escape(refused)}$"):
        connect("market_data", "consumer", runtime_dir=runtime_dir, types=types)
    with pytest.raises(ap.FieldValueError, match=re.escape(refused)):  # any iterable
        ap.connect("market_data", "consumer", runtime_dir=runtime_dir, types=iter(types))


def test_a_consumer_may_name_announcements_and_run_time_types(runtime_dir, relays):
    relays("market_data")
    quote = zeroed(ap.Quote, bid_price=1, ask_price=2, sequence=1).to_bytes()
    with connect("market_data", "consumer", runtime_dir=runtime_dir,
                 types=(t for t in ["Quote", "SchemaAnnouncement", 250])) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(trades(3) + quote)
        assert receive_bytes(consumer, len(quote)) == quote


def test_a_frame_of_another_domain_is_refused_with_an_error(runtime_dir, relays):
    relays("market_data")
    order = zeroed(ap.OrderRequest, client_order_id=9, quantity=1, sequence=41).to_bytes()
    good = trades(3)
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(good[:64] + order + good[64:])
        assert receive_bytes(consumer, len(good)) == good
        errors = _errors(producer, 1)
    error_class = ap.MESSAGE_CLASSES[ap.MessageType.Error]
    assert isinstance(errors[0], error_class)
    assert errors[0].code == RelayCode.WrongDomain
    assert errors[0].related_type == ap.MessageType.OrderRequest
    assert errors[0].related_sequence == 41
    assert "byte 64" in errors[0].text and "market_data" in errors[0].text


def _errors(producer, count: int) -> list:
    """The producer's Error answers, once ``count`` came (the relay answers as it reads)."""
    import time

    deadline = time.monotonic() + RECEIVE_TIMEOUT
    while len(producer.errors) < count and time.monotonic() < deadline:
        producer.flush()
        time.sleep(0.01)
    return producer.errors


@pytest.mark.parametrize("validate", [True, False])
def test_a_bad_checksum_is_refused_only_where_the_policy_validates(runtime_dir, relays, validate):
    relays("market_data", validate_checksums=validate)
    good = trades(3)
    bad = bytearray(trades(1, first_sequence=50))
    bad[40] ^= 0xFF  # a payload byte: the checksum no longer matches
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
        producer.send_batch(good[:64] + bytes(bad) + good[64:])
        expected = good if validate else good[:64] + bytes(bad) + good[64:]
        assert receive_bytes(consumer, len(expected)) == expected
        if validate:
            errors = _errors(producer, 1)
            assert [(e.code, e.related_sequence) for e in errors] == [(RelayCode.BadChecksum, 50)]
        else:
            assert producer.flush() == []


def test_execution_refuses_duplicates_and_reports_jumps(runtime_dir, relays):
    relays("execution")

    def order(sequence: int) -> bytes:
        return zeroed(ap.OrderRequest, client_order_id=sequence, quantity=1, sequence=sequence,
                               source=ap.SourceType.PortfolioManager).to_bytes()

    with connect("execution", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("execution", "producer", runtime_dir=runtime_dir) as producer:
        for sequence in (1, 2, 2, 1, 5, 6):
            producer.send(order(sequence))
        received = [consumer.recv(timeout=RECEIVE_TIMEOUT) for _ in range(5)]
        errors = _errors(producer, 2)
    kinds = [m.header.message_type for m in received]
    assert kinds == [ap.MessageType.OrderRequest] * 2 + [ap.MessageType.GapNotice] + [ap.MessageType.OrderRequest] * 2
    notice = received[2]
    assert (notice.gap_source, notice.reason, notice.first_sequence, notice.last_sequence,
            notice.frames_lost) == (ap.SourceType.PortfolioManager, GapReason.SequenceJump, 3, 4, 2)
    assert [m.header.sequence for m in received if m.header.message_type == ap.MessageType.OrderRequest] == [1, 2, 5, 6]
    assert [(e.code, e.related_sequence) for e in errors] == [(RelayCode.SequenceNotAfter, 2),
                                                               (RelayCode.SequenceNotAfter, 1)]
    # the jump the consumer saw is the one the relay told of: listed once, as reported
    assert consumer.gaps == [Gap(ap.SourceType.PortfolioManager, GapReason.SequenceJump, 3, 4, 2,
                                 True)]


def test_no_relay_is_a_clear_error(runtime_dir):
    with pytest.raises(RelayError, match="no market_data relay is running"):
        connect("market_data", "consumer", runtime_dir=runtime_dir)


def test_a_run_time_type_travels_in_the_domain_its_schema_names(runtime_dir, relays):
    relays("signals")
    schema = ap.Schema(message_type=231, version=1, name="RelaySignal231",
                       fields=[("score", "i32"), ("_pad", "pad[4]")], domain="signals")
    elsewhere = ap.Schema(message_type=232, version=1, name="RelaySignal232",
                          fields=[("score", "i32"), ("_pad", "pad[4]")], domain="execution")
    signal = ap.Registry().register(schema)
    with connect("signals", "consumer", runtime_dir=runtime_dir) as consumer, \
            connect("signals", "producer", runtime_dir=runtime_dir) as producer:
        early = signal.encode(score=-1, sequence=1)
        producer.send(early)  # before the announcement: not of this domain yet
        producer.send(elsewhere.announce(sequence=2))
        producer.send(schema.announce(sequence=3))
        later = signal.encode(score=7, sequence=4)
        producer.send(later)
        received = receive_bytes(consumer, len(schema.announce(sequence=3)) + len(later))
        errors = _errors(producer, 2)
    assert received == schema.announce(sequence=3) + later
    assert [(e.code, e.related_type) for e in errors] == [
        (RelayCode.WrongDomain, 231), (RelayCode.SchemaRefused, ap.MessageType.SchemaAnnouncement)]


def test_schema_domain_is_part_of_its_json_form():
    schema = ap.Schema(message_type=240, version=1, name="Routed", fields=[("x", "u32")],
                       domain="market_data")
    assert '"domain":"market_data"' in schema.to_json()
    assert ap.Schema.from_dict(json.loads(schema.to_json())) == schema
    assert "domain" not in ap.Schema(message_type=240, version=1, name="Routed",
                                     fields=[("x", "u32")]).to_json()
    with pytest.raises(ap.SchemaError, match="domain: 'orders' is not one of market_data"):
        ap.Schema(message_type=240, version=1, name="Routed", fields=[("x", "u32")],
                  domain="orders")
