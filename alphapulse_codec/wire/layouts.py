"""Every wire layout, declared once.

This module is the single source of truth for the byte layout of the header, the InstrumentId,
each message body and each TLV. The packed C structs (``_c/wire.h`` and ``_wire.pxd``) and the
typed message classes (``_messages.pxi``) are generated from it by ``tools/generate.py``; the
numpy dtypes, the JSON mapping and the tables of docs/protocol.md are derived from it at run
time or checked against it by the tests.

Field types: ``u8 u16 u32 u64 i8 i16 i32 i64 u128 i128`` (little-endian integers),
``instrument_id`` (the 12-byte InstrumentId), ``bytes[N]`` (raw bytes: addresses, hashes),
``ascii[N]`` (text, NUL-padded on the right) and ``pad[N]`` (written as zero, ignored on read).

Which fields a message class requires follows from the field's kind: every body field that
holds a value (integers, instrument_id, bytes[N], ascii[N]) must be given, unless it is declared
``optional`` here, where its zero value means "none" or "unused" (``_optional``); padding is
written as zero and is no argument; tail counts and TLV positions are computed from the tails
and TLVs given; tails and TLVs default to empty, but for a tail that must be canonical JSON;
header fields default to the header's own defaults (sequence, timestamp, source and flags 0,
version 1).

A field may also say how a person reads its integer: a ``unit`` of ``UNITS`` (a price is
fixed point with 8 decimals, a fee in ppm, ...) or the ``enum`` that names its values. The
value helpers, the readable exports and the units table of docs/protocol.md all follow them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import IntEnum

from .enums import (AssetType, BookUpdateKind, Domain, ExecType, LiquidityIndicator, MessageType,
                    OrderType, OrdStatus, Severity, Side, SourceType, TimeInForce, TLVType,
                    VenueId, VenueStatus)

INTEGER_SIZES = {
    "u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16,
    "i8": 1, "i16": 2, "i32": 4, "i64": 8, "i128": 16,
}
INSTRUMENT_ID_SIZE = 12
HEADER_SIZE = 32
MAGIC = 0xDEADBEEF
_ARRAY_TYPE = re.compile(r"^(bytes|ascii|pad)\[(\d+)\]$")


@dataclass(frozen=True)
class Unit:
    """How a person reads an integer field: ``decimals`` places of a decimal fixed point
    (value = raw / 10**decimals), or a scale of its own (Q64.64, timestamps) when None."""

    name: str
    meaning: str
    decimals: int | None = None


PRICE, Q64_64, BPS, PPM, PERCENT, WEI, GWEI, CENTS, MILLI, TIMESTAMP = (
    "price", "q64.64", "bps", "ppm", "percent", "wei", "gwei", "cents", "milli", "timestamp")
PRICE_DECIMALS = 8
UNITS: dict[str, Unit] = {u.name: u for u in [
    Unit(PRICE, "fixed point with 8 decimals: 18925000000 is 189.25 (prices, money amounts,"
                " price ratios)", PRICE_DECIMALS),
    Unit(Q64_64, "fixed point with 64 fractional bits: the value is raw / 2^64"),
    Unit(BPS, "basis points: 1 is 0.01 %, 10000 is 100 %", 4),
    Unit(PPM, "parts per million: 3000 is 0.3 %", 6),
    Unit(PERCENT, "percent: 0-100", 2),
    Unit(WEI, "wei: 10^-18 of the chain's native coin (ETH)", 18),
    Unit(GWEI, "gwei: 10^-9 of the chain's native coin", 9),
    Unit(CENTS, "US cents: 10^-2 of a dollar", 2),
    Unit(MILLI, "thousandths: 1500 is 1.5", 3),
    Unit(TIMESTAMP, "nanoseconds since the Unix epoch, UTC"),
]}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    doc: str = ""
    unit: str = ""  # a key of UNITS, or "" for a plain count, identifier or bit field
    enum: type[IntEnum] | None = None  # the enum that names its values
    offset: int = -1  # from the start of the struct; set by Layout
    optional: bool = False  # a builder may leave it out: it is then zero, which means "none"

    def __post_init__(self) -> None:
        if self.unit and self.unit not in UNITS:
            raise ValueError(f"field {self.name}: unknown unit {self.unit!r}")

    @property
    def size(self) -> int:
        if self.type in INTEGER_SIZES:
            return INTEGER_SIZES[self.type]
        if self.type == "instrument_id":
            return INSTRUMENT_ID_SIZE
        return int(self.array_kind_and_length[1])

    @property
    def array_kind_and_length(self) -> tuple[str, int]:
        match = _ARRAY_TYPE.match(self.type)
        if match is None:
            raise ValueError(f"field {self.name}: {self.type!r} is not an array type")
        return match.group(1), int(match.group(2))

    @property
    def kind(self) -> str:
        """``int``, ``instrument_id``, ``bytes``, ``ascii`` or ``pad``."""
        if self.type in INTEGER_SIZES:
            return "int"
        if self.type == "instrument_id":
            return "instrument_id"
        return self.array_kind_and_length[0]

    @property
    def is_padding(self) -> bool:
        return self.kind == "pad"

    @property
    def signed(self) -> bool:
        return self.type.startswith("i") and self.type in INTEGER_SIZES


@dataclass(frozen=True)
class Tail:
    """A variable-length segment that follows the fixed body, in declaration order.

    Its length is ``count_field`` (a body field) times the element size of ``kind``:
    1 byte for ``utf8`` and ``bytes``, 16 bytes (price i64, size u64) for ``levels``.
    """

    name: str
    count_field: str
    kind: str
    doc: str = ""
    # a utf8 tail that must be canonical JSON (protocol section 9), refused on build otherwise
    canonical_json: bool = False

    @property
    def element_size(self) -> int:
        return BOOK_LEVEL_SIZE if self.kind == "levels" else 1


BOOK_LEVEL_SIZE = 16


@dataclass(frozen=True)
class Layout:
    """A packed struct: fields back to back, offsets from the start of the struct."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        placed, offset = [], 0
        for f in self.fields:
            placed.append(replace(f, offset=offset))
            offset += f.size
        object.__setattr__(self, "fields", tuple(placed))
        names = [f.name for f in placed]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate field names")

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def value_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.is_padding)


@dataclass(frozen=True)
class MessageLayout(Layout):
    """A message body: the struct that follows the 32-byte header in a frame.

    ``fields`` hold body offsets (0 = first byte after the header); ``frame_offset`` adds the
    header. A message without ``tail`` is fixed-size and may carry TLV extensions after its
    body; a message with a tail carries none.
    """

    message_type: MessageType = MessageType.Custom
    struct_name: str = ""
    tail: tuple[Tail, ...] = field(default_factory=tuple)
    designed_here: bool = False
    tlv_position_fields: tuple[str, ...] = ()  # body fields that locate the TLVs, if any
    accepts_tlv: bool = True  # run-time schemas take none: their frames end with the body
    # the Python class's name where the type's own would read as something else (Error, an
    # exception's name, is the class ErrorReport); wire, JSON and exports keep the type's name
    python_name: str = ""

    @property
    def class_name(self) -> str:
        """The name of the message class of this layout."""
        return self.python_name or self.name

    @property
    def body_size(self) -> int:
        return self.size

    @property
    def frame_size(self) -> int:
        """Header plus fixed body: the smallest frame of this type."""
        return HEADER_SIZE + self.size

    @property
    def carries_tlv(self) -> bool:
        return self.accepts_tlv and not self.tail

    def frame_offset(self, name: str) -> int:
        return HEADER_SIZE + self.field(name).offset

    @property
    def derived_fields(self) -> frozenset[str]:
        """Body fields computed when building: tail counts and TLV position."""
        return frozenset({t.count_field for t in self.tail} | set(self.tlv_position_fields))

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Body fields and tails that a message class must be given: the fields that hold a
        value, are not computed and have no declared default; the tails that must be
        canonical JSON (an empty one is not)."""
        return tuple(f.name for f in self.value_fields
                     if f.name not in self.derived_fields and not f.optional) + tuple(
            t.name for t in self.tail if t.canonical_json)

    @property
    def builder_fields(self) -> tuple[str, ...]:
        """Body and tail names a message class takes as keyword arguments."""
        return tuple(f.name for f in self.value_fields if f.name not in self.derived_fields) + tuple(
            t.name for t in self.tail)


def _fields(*specs: tuple[object, ...] | Field) -> tuple[Field, ...]:
    """Fields of ``(name, type[, doc[, unit or enum]])``, or ready-made Fields (``_optional``)."""
    fields = []
    for spec in specs:
        if isinstance(spec, Field):
            fields.append(spec)
            continue
        name, type_, *rest = spec
        doc, marks = (rest[0], rest[1:]) if rest else ("", ())
        fields.append(Field(str(name), str(type_), str(doc), *_marks(marks)))
    return tuple(fields)


def _marks(marks: tuple[object, ...] | list[object]) -> tuple[str, type[IntEnum] | None]:
    """The unit and the enum among a field spec's trailing marks."""
    unit = next((m for m in marks if isinstance(m, str)), "")
    enum = next((m for m in marks if isinstance(m, type)), None)
    return unit, enum


def _optional(name: str, type_: str, doc: str, *marks: object) -> Field:
    """A body field a builder may leave out: its zero value, documented in `doc`, means none."""
    return Field(name, type_, doc, *_marks(marks), optional=True)


HEADER = Layout("MessageHeader", _fields(
    ("magic", "u32", "always 0xDEADBEEF"),
    ("message_type", "u8", "MessageType", MessageType),
    ("version", "u8", "schema version of the body"),
    ("source", "u8", "SourceType of the producer; any value passes", SourceType),
    ("flags", "u8", "no bits defined: written 0, passed through"),
    ("payload_size", "u32", "bytes after the header"),
    ("sequence", "u64", "monotonic per source"),
    ("timestamp", "u64", "nanoseconds since the Unix epoch", TIMESTAMP),
    ("checksum", "u32", "CRC-32 of the frame without these 4 bytes"),
))

INSTRUMENT_ID = Layout("InstrumentId", _fields(
    ("venue", "u16", "VenueId", VenueId),
    ("asset_type", "u8", "AssetType", AssetType),
    ("reserved", "u8", "future use; kept on the wire"),
    ("asset_id", "u64", "venue-specific identifier"),
))


def _message(
    message_type: MessageType,
    struct_name: str,
    fields: tuple[Field, ...],
    doc: str,
    tail: tuple[Tail, ...] = (),
    designed_here: bool = False,
    tlv_position_fields: tuple[str, ...] = (),
    python_name: str = "",
) -> MessageLayout:
    return MessageLayout(
        message_type.name, fields, doc, message_type, struct_name, tail, designed_here,
        tlv_position_fields, python_name=python_name,
    )


_DISCOVERY_FIELDS = _fields(
    ("instrument_id", "instrument_id"),
    ("decimals", "u8"),
    ("symbol_len", "u8", "bytes of symbol in the tail"),
    ("metadata_len", "u16", "bytes of metadata in the tail"),
)
_DISCOVERY_TAIL = (
    Tail("symbol", "symbol_len", "utf8", "the instrument's symbol"),
    Tail("metadata", "metadata_len", "bytes", "free-form metadata"),
)

_DESIGN_MESSAGES = [
    _message(MessageType.Trade, "TradeMessage", _fields(
        ("instrument_id", "instrument_id"),
        ("price", "i64", "fixed-point", PRICE),
        ("volume", "u64"),
        ("side", "u8", "Side: Buy=1, Sell=2", Side),
        _optional("flags", "u8", "no bits defined: written 0, passed through"),
        ("_padding", "pad[2]"),
    ), "One executed trade."),
    _message(MessageType.Quote, "QuoteMessage", _fields(
        ("instrument_id", "instrument_id"),
        ("bid_price", "i64", "", PRICE),
        ("ask_price", "i64", "", PRICE),
        ("bid_size", "u64"),
        ("ask_size", "u64"),
        ("_padding", "pad[4]"),
    ), "Best bid and offer."),
    _message(MessageType.InstrumentDiscovered, "InstrumentDiscoveredHeader", _DISCOVERY_FIELDS,
             "A newly seen instrument; symbol and metadata follow the fixed part.",
             _DISCOVERY_TAIL),
    _message(MessageType.PoolDiscovered, "InstrumentDiscoveredHeader", _DISCOVERY_FIELDS,
             "A newly seen pool, in the InstrumentDiscovered layout.", _DISCOVERY_TAIL),
    _message(MessageType.ArbitrageOpportunity, "ArbitrageMessage", _fields(
        ("base_id", "instrument_id"),
        ("quote_id", "instrument_id"),
        ("venue_a", "u16", "VenueId", VenueId),
        ("venue_b", "u16", "VenueId", VenueId),
        ("spread_bps", "u32", "", BPS),
        ("estimated_profit", "i64"),
        ("confidence", "u16", "0-10000", BPS),
        ("expires_at", "u64", "ns since the epoch", TIMESTAMP),
        ("_padding", "pad[14]"),
    ), "A cross-venue arbitrage opportunity (TradFi/CEX)."),
    _message(MessageType.PoolArbitrageSignal, "PoolArbitrageSignal", _fields(
        ("pool_a_id", "instrument_id", "source pool"),
        ("pool_b_id", "instrument_id", "target pool"),
        ("token0_id", "instrument_id"),
        ("token1_id", "instrument_id"),
        ("pool_a_reserve0", "u64", "smallest unit"),
        ("pool_a_reserve1", "u64"),
        ("pool_b_reserve0", "u64"),
        ("pool_b_reserve1", "u64"),
        ("optimal_amount_in", "u64"),
        ("expected_profit_wei", "u64", "after gas", WEI),
        ("gas_cost_gwei", "u32", "", GWEI),
        ("confidence", "u16", "0-10000", BPS),
        ("block_number", "u32"),
        ("expires_at_block", "u32"),
        ("_padding", "pad[2]"),
    ), "An arbitrage between two DEX pools."),
    _message(MessageType.LiquidityImbalance, "LiquidityImbalanceSignal", _fields(
        ("pool_id", "instrument_id"),
        ("token0_id", "instrument_id"),
        ("token1_id", "instrument_id"),
        ("current_ratio", "u64", "fixed-point", PRICE),
        ("historical_avg_ratio", "u64", "30-day average", PRICE),
        ("deviation_bps", "u32", "", BPS),
        ("volume_24h", "u64"),
        ("fee_tier", "u32", "3000 = 0.3%", PPM),
        ("_padding", "pad[4]"),
    ), "A pool whose reserves drifted from their usual ratio."),
    _message(MessageType.MEVOpportunity, "MEVOpportunitySignal", _fields(
        ("opportunity_type", "u8", "Sandwich, Backrun, Liquidation"),
        ("chain_id", "u8"),
        ("priority", "u8", "higher = more urgent"),
        ("_reserved", "pad[1]"),
        ("target_tx_hash", "bytes[32]"),
        ("estimated_profit_wei", "u64", "", WEI),
        ("max_gas_price_gwei", "u64", "", GWEI),
        ("target_block", "u32"),
        ("deadline_block", "u32"),
        ("victim_amount_in", "u64"),
        ("optimal_frontrun_amount", "u64"),
        ("_padding", "pad[4]"),
    ), "A MEV opportunity."),
    _message(MessageType.DeFiSignal, "DeFiSignal", _fields(
        ("strategy_id", "u16", "1=TriangularArb, 2=CrossDex, ..."),
        ("signal_id", "u64"),
        ("signal_nonce", "u32", "monotonic per (source, strategy_id)"),
        ("chain_id", "u32", "EVM chain id"),
        ("version", "u8", "the signal's own schema version"),
        ("adapter_id", "u8", "execution adapter selector"),
        ("base_instrument", "instrument_id"),
        ("quote_instrument", "instrument_id"),
        ("base_token_addr", "bytes[20]"),
        ("quote_token_addr", "bytes[20]"),
        ("venue_a_router", "bytes[20]"),
        _optional("venue_b_router", "bytes[20]", "zero if unused"),
        ("venue_a_type", "u8", "1=UniV2, 2=UniV3, 3=Curve"),
        _optional("venue_b_type", "u8", "0 if unused"),
        ("fee_a_ppm", "u32", "", PPM),
        ("fee_b_ppm", "u32", "", PPM),
        ("direction_flag", "u8", "0=sell base, 1=buy base"),
        ("confidence", "u8", "0-100", PERCENT),
        ("expected_profit_q", "i128", "Q64.64, quote token", Q64_64),
        ("required_capital_q", "u128", "Q64.64, base token", Q64_64),
        ("gas_estimate_q", "u128", "Q64.64, quote token", Q64_64),
        ("amount_in_q", "u128", "Q64.64", Q64_64),
        ("min_out_q", "u128", "Q64.64", Q64_64),
        ("optimal_size_q", "u128", "Q64.64", Q64_64),
        ("observed_block", "u64"),
        ("valid_through_block", "u64"),
        ("state_hash", "u64"),
        ("execution_flags", "u32"),
        ("slippage_bps", "u16", "", BPS),
        ("price_impact_bps", "u16", "", BPS),
        _optional("replace_signal_id", "u64", "if > 0, supersedes this signal"),
        ("tlv_offset", "u16", "frame offset of the TLVs: 312, or 0 when none"),
        ("tlv_length", "u16", "bytes of TLVs"),
        ("created_at_sec", "u32", "wall clock, for analytics only"),
    ), "The unified DeFi signal; TLV extensions follow its body.",
        tlv_position_fields=("tlv_offset", "tlv_length")),
]

_OWN_MESSAGES = [
    _message(MessageType.OrderBook, "OrderBookMessage", _fields(
        ("instrument_id", "instrument_id"),
        ("venue_timestamp", "u64", "the venue's time of the book, ns", TIMESTAMP),
        ("update_kind", "u8", "BookUpdateKind: 0 snapshot, 1 delta", BookUpdateKind),
        ("_reserved", "pad[1]"),
        ("bid_count", "u16", "bid levels in the tail"),
        ("ask_count", "u16", "ask levels in the tail"),
        ("_padding", "pad[6]"),
    ), "Price levels of a book; a delta level of size 0 removes the level.", (
        Tail("bids", "bid_count", "levels", "best first"),
        Tail("asks", "ask_count", "levels", "best first"),
    ), designed_here=True),
    _message(MessageType.VenueUpdate, "VenueUpdateMessage", _fields(
        ("venue", "u16", "VenueId", VenueId),
        ("status", "u8", "VenueStatus", VenueStatus),
        ("_reserved", "pad[1]"),
        ("instrument_count", "u32", "instruments listed"),
        ("latency_us", "u32", "observed round trip"),
        ("_padding", "pad[4]"),
        ("effective_at", "u64", "ns since the epoch", TIMESTAMP),
    ), "A venue changed state.", designed_here=True),
    _message(MessageType.PositionUpdate, "PositionUpdateMessage", _fields(
        ("instrument_id", "instrument_id"),
        ("portfolio_id", "u32"),
        ("quantity", "i64", "signed: short < 0"),
        ("avg_entry_price", "i64", "fixed-point", PRICE),
        ("realized_pnl", "i64", "", PRICE),
        ("unrealized_pnl", "i64", "", PRICE),
        ("mark_price", "i64", "", PRICE),
    ), "A portfolio's position in one instrument.", designed_here=True),
    _message(MessageType.StrategyAlert, "StrategyAlertMessage", _fields(
        ("strategy_id", "u16"),
        ("severity", "u8", "Severity", Severity),
        ("_reserved", "pad[1]"),
        ("alert_code", "u32"),
        _optional("instrument_id", "instrument_id", "zero when not about one instrument"),
        ("value", "i64", "the observed value"),
        ("threshold", "i64", "the limit it crossed"),
        ("text", "ascii[32]", "short description"),
        ("_padding", "pad[4]"),
    ), "A strategy raised an alert.", designed_here=True),
    _message(MessageType.RebalanceSignal, "RebalanceSignalMessage", _fields(
        ("portfolio_id", "u32"),
        ("strategy_id", "u16"),
        ("urgency", "u8", "0-255, higher = sooner"),
        ("_reserved", "pad[1]"),
        ("instrument_id", "instrument_id"),
        ("current_weight_bps", "i32", "", BPS),
        ("target_weight_bps", "i32", "", BPS),
        ("target_quantity", "i64"),
        ("reference_price", "i64", "", PRICE),
        ("valid_until", "u64", "ns since the epoch", TIMESTAMP),
        ("_padding", "pad[4]"),
    ), "Move a position toward a target weight.", designed_here=True),
    _message(MessageType.RiskMetric, "RiskMetricMessage", _fields(
        ("portfolio_id", "u32"),
        ("metric_kind", "u8", "1 VaR, 2 exposure, 3 drawdown, 4 leverage, 5 margin"),
        ("breach", "u8", "1 when value is past limit"),
        ("_reserved", "pad[2]"),
        _optional("instrument_id", "instrument_id", "zero for portfolio-wide"),
        ("value", "i64"),
        ("limit", "i64"),
        ("window_sec", "u32"),
        ("confidence_bps", "u16", "", BPS),
        ("_padding", "pad[6]"),
    ), "A risk measure against its limit.", designed_here=True),
    _message(MessageType.PerformanceUpdate, "PerformanceUpdateMessage", _fields(
        ("strategy_id", "u16"),
        ("_reserved", "pad[2]"),
        ("portfolio_id", "u32"),
        ("period_start", "u64", "ns since the epoch", TIMESTAMP),
        ("period_end", "u64", "ns since the epoch", TIMESTAMP),
        ("pnl", "i64", "", PRICE),
        ("fees", "i64", "", PRICE),
        ("volume", "u64"),
        ("trade_count", "u32"),
        ("win_count", "u32"),
        ("sharpe_milli", "i32", "Sharpe ratio x 1000", MILLI),
        ("max_drawdown_bps", "u32", "", BPS),
    ), "A strategy's results over a period.", designed_here=True),
    _message(MessageType.ImpermanentLossAlert, "ImpermanentLossAlertMessage", _fields(
        ("pool_id", "instrument_id"),
        ("token0_id", "instrument_id"),
        ("token1_id", "instrument_id"),
        ("entry_price_ratio", "u64", "fixed-point", PRICE),
        ("current_price_ratio", "u64", "fixed-point", PRICE),
        ("il_bps", "u32", "loss against holding", BPS),
        ("threshold_bps", "u32", "", BPS),
        ("position_value", "u64", "", PRICE),
        ("_padding", "pad[4]"),
    ), "A liquidity position's impermanent loss crossed a threshold.", designed_here=True),
    _message(MessageType.FlashLoanSignal, "FlashLoanSignalMessage", _fields(
        ("chain_id", "u32"),
        ("provider", "u16", "VenueId of the lender", VenueId),
        ("strategy_id", "u16"),
        ("asset_id", "instrument_id", "borrowed token"),
        ("loan_token_addr", "bytes[20]"),
        ("amount", "u128", "smallest unit"),
        ("fee_ppm", "u32", "", PPM),
        ("expected_profit_wei", "u64", "", WEI),
        ("deadline_block", "u32"),
    ), "A flash-loan-funded opportunity.", designed_here=True),
    _message(MessageType.YieldFarmingUpdate, "YieldFarmingUpdateMessage", _fields(
        ("pool_id", "instrument_id"),
        ("reward_token_id", "instrument_id"),
        ("chain_id", "u32"),
        ("apr_bps", "u32", "", BPS),
        ("tvl_usd_cents", "u64", "", CENTS),
        ("reward_per_block", "u128", "smallest unit"),
        ("updated_block", "u64"),
    ), "A farm's yield changed.", designed_here=True),
    _message(MessageType.GasOptimizationSignal, "GasOptimizationSignalMessage", _fields(
        ("chain_id", "u32"),
        ("_reserved", "pad[4]"),
        ("block_number", "u64"),
        ("base_fee_wei", "u64", "", WEI),
        ("priority_fee_wei", "u64", "", WEI),
        ("max_fee_wei", "u64", "", WEI),
        ("gas_used_ratio_bps", "u16", "", BPS),
        ("urgency", "u8"),
        ("_padding", "pad[5]"),
        ("valid_through_block", "u64"),
    ), "Suggested gas prices for the next blocks.", designed_here=True),
    _message(MessageType.OrderRequest, "OrderRequestMessage", _fields(
        ("client_order_id", "u64", "FIX ClOrdID (11)"),
        ("instrument_id", "instrument_id"),
        ("side", "u8", "Side (54)", Side),
        ("order_type", "u8", "OrderType (40)", OrderType),
        ("time_in_force", "u8", "TimeInForce (59)", TimeInForce),
        ("_reserved", "pad[1]"),
        ("price", "i64", "limit price (44)", PRICE),
        _optional("stop_price", "i64", "(99); 0 for an order without a stop", PRICE),
        ("quantity", "u64", "OrderQty (38)"),
        ("account_id", "u32", "(1)"),
        ("strategy_id", "u16"),
        ("_padding", "pad[2]"),
        _optional("expire_at", "u64", "ExpireTime (126), ns; 0 = none", TIMESTAMP),
    ), "A new order (FIX NewOrderSingle).", designed_here=True),
    _message(MessageType.OrderStatus, "OrderStatusMessage", _fields(
        ("client_order_id", "u64", "(11)"),
        ("venue_order_id", "u64", "OrderID (37)"),
        ("instrument_id", "instrument_id"),
        ("order_status", "u8", "OrdStatus (39)", OrdStatus),
        ("side", "u8", "(54)", Side),
        ("reject_reason", "u16", "OrdRejReason (103)"),
        ("cum_quantity", "u64", "CumQty (14)"),
        ("leaves_quantity", "u64", "LeavesQty (151)"),
        ("avg_price", "i64", "AvgPx (6)", PRICE),
        ("transact_time", "u64", "TransactTime (60), ns", TIMESTAMP),
    ), "The state of an order.", designed_here=True),
    _message(MessageType.Fill, "FillMessage", _fields(
        ("client_order_id", "u64", "(11)"),
        ("venue_order_id", "u64", "(37)"),
        ("exec_id", "u64", "ExecID (17)"),
        ("instrument_id", "instrument_id"),
        ("side", "u8", "(54)", Side),
        ("liquidity", "u8", "LiquidityIndicator (851)", LiquidityIndicator),
        ("_reserved", "pad[2]"),
        ("last_price", "i64", "LastPx (31)", PRICE),
        ("last_quantity", "u64", "LastQty (32)"),
        ("cum_quantity", "u64", "(14)"),
        ("leaves_quantity", "u64", "(151)"),
        ("avg_price", "i64", "(6)", PRICE),
        ("fee", "i64", "Commission (12)", PRICE),
        ("transact_time", "u64", "(60), ns", TIMESTAMP),
    ), "One execution of an order.", designed_here=True),
    _message(MessageType.OrderCancel, "OrderCancelMessage", _fields(
        ("client_order_id", "u64", "this request's ClOrdID (11)"),
        ("orig_client_order_id", "u64", "OrigClOrdID (41)"),
        ("venue_order_id", "u64", "(37)"),
        ("instrument_id", "instrument_id"),
        ("side", "u8", "(54)", Side),
        ("_reserved", "pad[3]"),
        ("quantity", "u64", "(38)"),
    ), "Cancel an order (FIX OrderCancelRequest).", designed_here=True),
    _message(MessageType.OrderModify, "OrderModifyMessage", _fields(
        ("client_order_id", "u64", "(11)"),
        ("orig_client_order_id", "u64", "(41)"),
        ("venue_order_id", "u64", "(37)"),
        ("instrument_id", "instrument_id"),
        ("side", "u8", "(54)", Side),
        ("order_type", "u8", "(40)", OrderType),
        ("time_in_force", "u8", "(59)", TimeInForce),
        ("_reserved", "pad[1]"),
        ("price", "i64", "(44)", PRICE),
        _optional("stop_price", "i64", "(99); 0 for an order without a stop", PRICE),
        ("quantity", "u64", "(38)"),
    ), "Replace an order's terms (FIX OrderCancelReplaceRequest).", designed_here=True),
    _message(MessageType.ExecutionReport, "ExecutionReportMessage", _fields(
        ("client_order_id", "u64", "(11)"),
        ("venue_order_id", "u64", "(37)"),
        ("exec_id", "u64", "(17)"),
        ("instrument_id", "instrument_id"),
        ("exec_type", "u8", "ExecType (150)", ExecType),
        ("order_status", "u8", "OrdStatus (39)", OrdStatus),
        ("side", "u8", "(54)", Side),
        ("order_type", "u8", "(40)", OrderType),
        ("time_in_force", "u8", "(59)", TimeInForce),
        ("_reserved", "pad[1]"),
        ("reject_reason", "u16", "(103)"),
        ("price", "i64", "(44)", PRICE),
        ("quantity", "u64", "(38)"),
        ("last_price", "i64", "(31)", PRICE),
        ("last_quantity", "u64", "(32)"),
        ("cum_quantity", "u64", "(14)"),
        ("leaves_quantity", "u64", "(151)"),
        ("avg_price", "i64", "(6)", PRICE),
        ("transact_time", "u64", "(60), ns", TIMESTAMP),
        ("_padding", "pad[4]"),
    ), "Everything a venue reports about an order (FIX ExecutionReport).", designed_here=True),
    _message(MessageType.Heartbeat, "HeartbeatMessage", _fields(
        ("service", "u8", "SourceType of the sender", SourceType),
        ("status", "u8", "VenueStatus-like: 1 ok, 4 degraded"),
        ("_reserved", "pad[2]"),
        ("interval_ms", "u32", "time to the next heartbeat"),
        ("uptime_ns", "u64"),
        ("messages_sent", "u64"),
        ("messages_received", "u64"),
        ("last_sequence", "u64", "last sequence the sender used"),
    ), "A service is alive; relays use it to detect silent peers.", designed_here=True),
    _message(MessageType.Snapshot, "SnapshotMessage", _fields(
        ("snapshot_id", "u64"),
        ("first_sequence", "u64", "first frame the snapshot covers"),
        ("last_sequence", "u64", "last frame the snapshot covers"),
        ("frame_count", "u32", "frames that follow as the snapshot's content"),
        ("part", "u16", "this part, from 0"),
        ("part_count", "u16"),
        ("domain", "u8", "Domain", Domain),
        ("_reserved", "pad[7]"),
    ), "Marks a relay's replay of its state to a late joiner.", designed_here=True),
    _message(MessageType.Error, "ErrorMessage", _fields(
        ("code", "u32"),
        _optional("related_type", "u8", "MessageType the error is about, 0 if none", MessageType),
        ("severity", "u8", "Severity", Severity),
        ("text_len", "u16", "bytes of text in the tail"),
        _optional("related_sequence", "u64", "sequence of the frame the error is about, 0 if none"),
    ), "An error report; the UTF-8 text follows the fixed part.", (
        Tail("text", "text_len", "utf8", "what went wrong"),
    ), designed_here=True, python_name="ErrorReport"),
    _message(MessageType.ConfigUpdate, "ConfigUpdateMessage", _fields(
        ("config_version", "u64", "monotonic"),
        _optional("target", "u8", "SourceType addressed, 0 = all", SourceType),
        ("_reserved", "pad[1]"),
        ("key_len", "u16", "bytes of key in the tail"),
        ("value_len", "u32", "bytes of value in the tail"),
    ), "One configuration key set to a new value.", (
        Tail("key", "key_len", "utf8", "dotted key"),
        Tail("value", "value_len", "bytes", "the value, as its consumer reads it"),
    ), designed_here=True),
    _message(MessageType.SchemaAnnouncement, "SchemaAnnouncementMessage", _fields(
        ("schema_type", "u8", "message_type the schema describes", MessageType),
        ("schema_version", "u8", "version the schema describes"),
        _optional("extends_version", "u8", "version it appends fields to, 0 if none"),
        ("_reserved", "pad[1]"),
        ("spec_len", "u32", "bytes of spec in the tail"),
    ), "A schema registered at run time, so that receivers can register it too.", (
        Tail("spec", "spec_len", "utf8", "the schema as canonical JSON (section 9)",
             canonical_json=True),
    ), designed_here=True),
    _message(MessageType.RelayHello, "RelayHelloMessage", _fields(
        ("protocol_version", "u16", "relay protocol version the client speaks (1)"),
        ("role", "u8", "RelayRole: 1 producer, 2 consumer, 3 monitor"),
        _optional("hello_flags", "u8", "HelloFlags: 1 ResumeSequence; 0 none"),
        ("client_pid", "u32", "process id of the client, for statistics"),
        ("type_mask", "bytes[32]", "consumer: bit t (byte t/8, bit t%8) set = wants type t"),
        ("source_mask", "bytes[32]", "consumer: bit s set = wants frames of source s"),
        _optional("producer_source", "u8", "producer: the SourceType it writes as; 0 for others"),
        ("_reserved", "pad[1]"),
        ("name_len", "u16", "bytes of name in the tail"),
    ), "The first frame a client sends to a relay: who it is and what it wants.", (
        Tail("name", "name_len", "utf8", "the client's name, at most 64 bytes"),
    ), designed_here=True),
    _message(MessageType.RelayWelcome, "RelayWelcomeMessage", _fields(
        ("protocol_version", "u16", "relay protocol version of the relay (1)"),
        ("domain", "u8", "Domain of the relay"),
        ("status", "u8", "RelayCode: 0 accepted, else why the client is refused"),
        ("connection_id", "u32", "this connection, as relay statistics name it"),
        ("max_frame_size", "u32", "largest frame the relay accepts, bytes"),
        ("policy_flags", "u8", "RelayFlags of the relay's policy"),
        ("_reserved", "pad[1]"),
        ("reason_len", "u16", "bytes of reason in the tail"),
        _optional("next_sequence", "u64", "producer: the sequence its source continues from;"
                  " 0 for others"),
    ), "The relay's answer to a RelayHello; a refused client is disconnected after it.", (
        Tail("reason", "reason_len", "utf8", "why the client was refused; empty when accepted"),
    ), designed_here=True),
    _message(MessageType.GapNotice, "GapNoticeMessage", _fields(
        ("gap_source", "u8", "SourceType whose frames are missing"),
        ("reason", "u8", "GapReason: 1 shed, 2 sequence jump, 3 relay restart, 4 disconnected"),
        ("_reserved", "pad[6]"),
        ("first_sequence", "u64", "sequence of the first missing frame"),
        ("last_sequence", "u64", "sequence of the last missing frame"),
        ("frames_lost", "u64", "frames missing between them that this consumer would have got"),
    ), "Frames of one source that a consumer did not get, and why.", designed_here=True),
    _message(MessageType.RelayStats, "RelayStatsMessage", _fields(
        ("domain", "u8", "Domain of the relay"),
        _optional("policy_flags", "u8", "RelayFlags of the relay's policy; 0 none"),
        ("_reserved", "pad[2]"),
        ("relay_pid", "u32"),
        ("started_at", "u64", "ns since the epoch"),
        ("frames_in", "u64", "frames accepted from producers since start"),
        ("bytes_in", "u64"),
        ("frames_out", "u64", "frames written whole to consumers, those gone included: the"
         " producers' frames and the relay's own to them (RelayWelcome, GapNotice, Error);"
         " none to producers or monitors"),
        ("bytes_out", "u64", "bytes written to consumers, a frame cut short by a closed"
         " connection included"),
        ("frames_dropped", "u64", "frames shed from consumer queues"),
        _optional("frames_refused", "u64", "frames answered with an Error; 0 none"),
        ("gaps", "u64", "GapNotices sent"),
        _optional("disconnects", "u64", "clients cut off: garbage, stuck consumers; 0 none"),
        _optional("connection_count", "u32", "records in the tail; 0 none"),
        ("records_len", "u32", "bytes of records in the tail"),
    ), "A relay's counters since start, then one RelayConnectionStats record per connection.", (
        Tail("records", "records_len", "bytes", "RelayConnectionStats records back to back"),
    ), designed_here=True),
]

MESSAGES: dict[MessageType, MessageLayout] = {
    m.message_type: m for m in sorted(_DESIGN_MESSAGES + _OWN_MESSAGES, key=lambda m: m.message_type)
}


@dataclass(frozen=True)
class TLVLayout(Layout):
    """A TLV extension: ``tlv_type`` u8, ``tlv_length`` u8, then the payload fields."""

    tlv_type: TLVType = TLVType.Reserved

    @property
    def payload_size(self) -> int:
        return self.size - 2


def _tlv(tlv_type: TLVType, name: str, payload: tuple[Field, ...], doc: str) -> TLVLayout:
    fields = _fields(("tlv_type", "u8", "", TLVType), ("tlv_length", "u8")) + payload
    return TLVLayout(name, fields, doc, tlv_type)


TLVS: dict[TLVType, TLVLayout] = {t.tlv_type: t for t in [
    _tlv(TLVType.PoolAddresses, "PoolAddressTLV", _fields(
        ("venue_a_pool", "bytes[20]"),
        ("venue_b_pool", "bytes[20]"),
        ("reserved", "pad[2]"),
    ), "Pool contracts for quoter calls."),
    _tlv(TLVType.TertiaryVenue, "TertiaryVenueTLV", _fields(
        ("venue_c_router", "bytes[20]"),
        ("venue_c_type", "u8"),
        ("fee_c_ppm", "u32", "", PPM),
        ("reserved", "pad[5]"),
    ), "A third venue for triangular arbitrage."),
    _tlv(TLVType.MEVBundle, "MEVBundleTLV", _fields(
        ("target_builder", "u32"),
        ("bundle_uuid", "u32"),
        ("max_bundle_size", "u8"),
        ("priority_fee_gwei", "u64", "", GWEI),
        ("target_block_range", "u8"),
        ("submission_strategy", "u8", "1=Flashbots, 2=MEV-Share"),
        ("relay_preferences", "u64", "bit field"),
        ("reserved", "pad[16]"),
    ), "MEV bundle preferences."),
]}

# One connection's counters, as RelayStats carries them in its tail.
RELAY_CONNECTION_STATS = Layout("RelayConnectionStats", _fields(
    ("connection_id", "u32"),
    ("role", "u8", "RelayRole"),
    ("source", "u8", "producer: its SourceType"),
    ("_reserved", "pad[2]"),
    ("client_pid", "u32"),
    ("_padding", "pad[4]"),
    ("connected_since", "u64", "ns since the epoch"),
    ("frames_in", "u64"),
    ("bytes_in", "u64"),
    ("frames_out", "u64", "frames written whole to it, the relay's own included (RelayWelcome,"
     " Error answers, GapNotices; RelayStats to a monitor)"),
    ("bytes_out", "u64", "bytes written to it"),
    ("frames_dropped", "u64", "shed from its queue"),
    ("gaps", "u64", "GapNotices it was sent"),
    ("queue_frames", "u64", "frames waiting for it now"),
    ("queue_bytes", "u64"),
    ("refused_bad_magic", "u32", "its frames refused, by RelayCode"),
    ("refused_too_large", "u32"),
    ("refused_wrong_domain", "u32"),
    ("refused_checksum", "u32"),
    ("refused_sequence", "u32"),
    ("refused_other", "u32", "control frames, refused schemas, cut frames"),
    ("name", "ascii[32]", "the client's name, cut to 32 bytes"),
), "One connection's counters, as RelayStats carries them in its tail.")

# Sizes fixed by the wire-format decisions; the tests hold every layout to them.
DECIDED_SIZES = {
    "MessageHeader": 32, "InstrumentId": 12, "TradeMessage": 64, "QuoteMessage": 80,
    "ArbitrageMessage": 96, "PoolArbitrageSignal": 144, "LiquidityImbalanceSignal": 104,
    "MEVOpportunitySignal": 112, "DeFiSignal": 312, "InstrumentDiscoveredHeader": 48,
    "PoolAddressTLV": 44, "TertiaryVenueTLV": 32, "MEVBundleTLV": 45,
}
