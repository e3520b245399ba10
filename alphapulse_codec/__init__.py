"""alphapulse_codec: the binary message codec of the AlphaPulse protocol.

    import alphapulse_codec as ap
    frame = ap.Trade(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                     price=189_250_000, volume=100, side=ap.Side.Buy,
                     sequence=1, timestamp=1_700_000_000_000_000_000,
                     source=ap.SourceType.AlpacaCollector).to_bytes()
    trade = ap.decode(frame)          # a zero-copy view, CRC verified
    trade.price, trade.header.sequence

The package is layered, each layer importing only those below it:
``wire`` (the compiled core) <- ``schemas`` <- ``capture`` <- ``samples`` <- ``cli``.
The names a user reaches for are re-exported here, flat.
"""
from importlib.metadata import version

from .capture import BadStretch, BatchResult, decode_batch, encode_batch, iter_batches
from .schemas import CacheRule, ObjectCache, Registry, Schema, dtype, load_schemas, register
from .wire._codec import (
    DEFAULT_MAX_FRAME_SIZE,
    MESSAGE_CLASSES,
    BookLevel,
    FrameIterator,
    Header,
    InstrumentId,
    Message,
    RuntimeMessage,
    crc32,
    crc32_implementation,
    decode,
    find_tlv,
    iter_frames,
    parse_tlvs,
)
from .wire._codec import (  # the message classes, one per MessageType
    ArbitrageOpportunity, ConfigUpdate, DeFiSignal, Error, ExecutionReport, Fill,
    FlashLoanSignal, GasOptimizationSignal, Heartbeat, ImpermanentLossAlert,
    InstrumentDiscovered, LiquidityImbalance, MEVOpportunity, OrderBook, OrderCancel,
    OrderModify, OrderRequest, OrderStatus, PerformanceUpdate, PoolArbitrageSignal,
    PoolDiscovered, PositionUpdate, Quote, RebalanceSignal, RiskMetric, SchemaAnnouncement,
    Snapshot, StrategyAlert, Trade, VenueUpdate, YieldFarmingUpdate,
)
from .wire.dtypes import int128_to_int
from .wire.enums import (
    AssetType, BookUpdateKind, Domain, ExecType, LiquidityIndicator, MessageType, OrdStatus,
    OrderType, Severity, Side, SourceType, TimeInForce, TLVType, VenueId, VenueStatus,
)
from .wire.errors import (
    BadMagicError, ChecksumError, FieldValueError, FrameTooLargeError, LengthMismatchError,
    ParseError, SchemaError, TLVError, TruncatedError, UnknownMessageTypeError,
    UnknownVersionError,
)
from .wire.tlv import TLV, MEVBundleTLV, PoolAddressTLV, RawTLV, TertiaryVenueTLV, TypedTLV

__version__ = version("alphapulse_codec")  # pyproject.toml holds the one copy

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MESSAGE_CLASSES",
    "BookLevel",
    "FrameIterator",
    "Header",
    "InstrumentId",
    "Message",
    "RuntimeMessage",
    "crc32",
    "crc32_implementation",
    "decode",
    "find_tlv",
    "iter_frames",
    "parse_tlvs",
    "ArbitrageOpportunity",
    "ConfigUpdate",
    "DeFiSignal",
    "Error",
    "ExecutionReport",
    "Fill",
    "FlashLoanSignal",
    "GasOptimizationSignal",
    "Heartbeat",
    "ImpermanentLossAlert",
    "InstrumentDiscovered",
    "LiquidityImbalance",
    "MEVOpportunity",
    "OrderBook",
    "OrderCancel",
    "OrderModify",
    "OrderRequest",
    "OrderStatus",
    "PerformanceUpdate",
    "PoolArbitrageSignal",
    "PoolDiscovered",
    "PositionUpdate",
    "Quote",
    "RebalanceSignal",
    "RiskMetric",
    "SchemaAnnouncement",
    "Snapshot",
    "StrategyAlert",
    "Trade",
    "VenueUpdate",
    "YieldFarmingUpdate",
    "dtype",
    "int128_to_int",
    "AssetType",
    "BookUpdateKind",
    "Domain",
    "ExecType",
    "LiquidityIndicator",
    "MessageType",
    "OrdStatus",
    "OrderType",
    "Severity",
    "Side",
    "SourceType",
    "TimeInForce",
    "TLVType",
    "VenueId",
    "VenueStatus",
    "BadMagicError",
    "ChecksumError",
    "FieldValueError",
    "FrameTooLargeError",
    "LengthMismatchError",
    "ParseError",
    "SchemaError",
    "TLVError",
    "TruncatedError",
    "UnknownMessageTypeError",
    "UnknownVersionError",
    "TLV",
    "MEVBundleTLV",
    "PoolAddressTLV",
    "RawTLV",
    "TertiaryVenueTLV",
    "TypedTLV",
    "Registry",
    "register",
    "load_schemas",
    "Schema",
    "CacheRule",
    "ObjectCache",
    "BadStretch",
    "BatchResult",
    "decode_batch",
    "encode_batch",
    "iter_batches",
]
