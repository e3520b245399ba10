"""alphapulse_codec: the binary message codec of the AlphaPulse protocol.

    import alphapulse_codec as ap
    frame = ap.Trade(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                     price=189_250_000, volume=100, side=ap.Side.Buy,
                     sequence=1, timestamp=1_700_000_000_000_000_000,
                     source=ap.SourceType.AlpacaCollector).to_bytes()
    trade = ap.decode(frame)          # a zero-copy view, CRC verified
    trade.price, trade.header.sequence
"""
from ._codec import (
    DEFAULT_MAX_FRAME_SIZE,
    MESSAGE_CLASSES,
    BookLevel,
    FrameIterator,
    Header,
    InstrumentId,
    Message,
    crc32,
    crc32_implementation,
    decode,
    find_tlv,
    iter_frames,
    parse_tlvs,
)
from ._codec import (  # the message classes, one per MessageType
    ArbitrageOpportunity, ConfigUpdate, DeFiSignal, Error, ExecutionReport, Fill,
    FlashLoanSignal, GasOptimizationSignal, Heartbeat, ImpermanentLossAlert,
    InstrumentDiscovered, LiquidityImbalance, MEVOpportunity, OrderBook, OrderCancel,
    OrderModify, OrderRequest, OrderStatus, PerformanceUpdate, PoolArbitrageSignal,
    PoolDiscovered, PositionUpdate, Quote, RebalanceSignal, RiskMetric, Snapshot,
    StrategyAlert, Trade, VenueUpdate, YieldFarmingUpdate,
)
from .dtypes import dtype, int128_to_int
from .enums import (
    AssetType, BookUpdateKind, Domain, ExecType, LiquidityIndicator, MessageType, OrdStatus,
    OrderType, Severity, Side, SourceType, TimeInForce, TLVType, VenueId, VenueStatus,
)
from .errors import (
    BadMagicError, ChecksumError, FieldValueError, FrameTooLargeError, LengthMismatchError,
    ParseError, TLVError, TruncatedError, UnknownMessageTypeError, UnknownVersionError,
)
from .tlv import TLV, MEVBundleTLV, PoolAddressTLV, RawTLV, TertiaryVenueTLV, TypedTLV

__version__ = "0.1.0"
