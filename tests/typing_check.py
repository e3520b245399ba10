"""Type-checked by tests/test_typing.py: the public API as a user writes it."""
from __future__ import annotations

import alphapulse_codec as ap

aapl: ap.InstrumentId = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
key: int = aapl.key
frame: bytes = ap.Trade.encode(instrument_id=aapl, price=1, volume=2, side=ap.Side.Buy,
                               sequence=1, timestamp=2, source=ap.SourceType.AlpacaCollector)
message: ap.Message = ap.decode(frame, verify=True)
sequence: int = message.header.sequence
if isinstance(message, ap.Trade):
    price: int = message.price
    instrument: ap.InstrumentId = message.instrument_id
book = ap.OrderBook(instrument_id=aapl, venue_timestamp=1, update_kind=ap.BookUpdateKind.Snapshot,
                    bids=[(1, 2)], asks=[])
levels: tuple[ap.BookLevel, ...] = book.bids
for item in ap.iter_frames(frame + frame):
    checksum: int = item.header.checksum
crc: int = ap.crc32(b"abc", 0)
tlvs: list[ap.TLV] = ap.parse_tlvs(ap.RawTLV(9, b"x").to_bytes())

from alphapulse_codec.capture.batch import BadStretch, decode_batch  # noqa: E402

result = decode_batch(frame + frame)
trade_rows = result[ap.MessageType.Trade]
stretches: list[BadStretch] = result.errors

signal = ap.Schema(message_type=201, version=1, name="TypedSignal",
                   fields=[("score", "i32"), ("horizon_s", "u32", 60)])
registry = ap.Registry()
signal_class: type[ap.Message] = registry.register(signal)
signal_frame: bytes = signal.announce(sequence=1)
learned: type[ap.Message] = registry.learn(signal_frame)
read: ap.Message = registry.read_as(frame, ap.MessageType.Trade, 1)
versions: list[int] = registry.versions(201)
custom_rows = decode_batch(signal_frame, registry=registry)[ap.MessageType.SchemaAnnouncement]

header: ap.HeaderFields = {"sequence": 9, "timestamp": 10, "source": ap.SourceType.AlpacaCollector}
quote = ap.Quote(instrument_id=aapl, bid_price=1, ask_price=2, bid_size=3, ask_size=4, **header)
cheaper: ap.Quote = quote.replace(bid_price=0)
same_id: ap.InstrumentId = ap.InstrumentId(*aapl.astuple())
by_name = result["Trade"]
one: ap.Message = result.message("Trade", 0)
for message_type, rows in result:
    count: int = len(rows)
report = ap.ErrorReport(code=1, severity=ap.Severity.Error, text="feed stalled")
try:
    ap.Trade.encode(instrument_id=aapl, price=1, volume=2, side=ap.Side.Buy)
except ap.MissingFieldError as error:
    missing: tuple[str, ...] = error.missing
momentum = registry.register(ap.Schema(message_type=202, version=1, name="Momentum",
                                       fields=[("score", "i32")]))
score_frame: bytes = momentum(score=-1, sequence=1).to_bytes()

from datetime import datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

price_value: Decimal = ap.price_to_decimal(trade_rows["price"][0].item())
raw_price: int = ap.decimal_to_price("189.25")
profit: Decimal = ap.q64_to_decimal(1 << 64)
moment: datetime = ap.timestamp_to_datetime(1_700_000_000_000_000_000)
nanoseconds: int = ap.datetime_to_timestamp(moment)
pair: tuple[str, str] = ap.InstrumentId.crypto(ap.VenueId.Binance, "ETH", "USDT").pair
