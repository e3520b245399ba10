"""Enumerations of the wire format.

MessageType and SourceType carry the design's values. VenueId, AssetType and the execution
enums are the project's own numbering, fixed by docs/protocol.md. Decoding never rejects a body
value that no enum names: these enums name values, they do not restrict them.
"""
from __future__ import annotations

from enum import IntEnum


class MessageType(IntEnum):
    # market data (1-19)
    Trade = 1
    Quote = 2
    OrderBook = 3
    InstrumentDiscovered = 10
    PoolDiscovered = 11
    VenueUpdate = 12
    # signals (20-39)
    ArbitrageOpportunity = 20
    PositionUpdate = 21
    StrategyAlert = 22
    RebalanceSignal = 23
    RiskMetric = 24
    PerformanceUpdate = 25
    PoolArbitrageSignal = 30
    LiquidityImbalance = 31
    ImpermanentLossAlert = 32
    MEVOpportunity = 33
    FlashLoanSignal = 34
    YieldFarmingUpdate = 35
    GasOptimizationSignal = 36
    DeFiSignal = 37
    # execution (40-59)
    OrderRequest = 40
    OrderStatus = 41
    Fill = 42
    OrderCancel = 43
    OrderModify = 44
    ExecutionReport = 45
    # system (100-109)
    Heartbeat = 100
    Snapshot = 101
    Error = 102
    ConfigUpdate = 103
    SchemaAnnouncement = 104
    # between a relay and its clients, never forwarded as data
    RelayHello = 105
    RelayWelcome = 106
    GapNotice = 107
    RelayStats = 108
    # first value of the range (200-255) kept for schemas registered at run time
    Custom = 200


class Domain(IntEnum):
    """The relay domain a message type belongs to, by its numeric range."""

    MarketData = 1
    Signal = 2
    Execution = 3
    System = 4
    Custom = 5

    @classmethod
    def of(cls, message_type: int) -> Domain | None:
        """The domain of a message type number, or None when no range holds it."""
        for domain, (low, high) in DOMAIN_RANGES.items():
            if low <= message_type <= high:
                return domain
        return None


DOMAIN_RANGES: dict[Domain, tuple[int, int]] = {
    Domain.MarketData: (1, 19),
    Domain.Signal: (20, 39),
    Domain.Execution: (40, 59),
    Domain.System: (100, 109),
    Domain.Custom: (200, 255),
}


# the relays' names of the domains (socket names, configuration keys, a schema's "domain")
RELAY_DOMAINS: dict[str, Domain] = {
    "market_data": Domain.MarketData,
    "signals": Domain.Signal,
    "execution": Domain.Execution,
    "system": Domain.System,
}


class SourceType(IntEnum):
    BinanceCollector = 1
    KrakenCollector = 2
    CoinbaseCollector = 3
    PolygonCollector = 4
    AlpacaCollector = 5
    MarketDataRelay = 20
    SignalRelay = 21
    ExecutionRelay = 22
    SystemRelay = 23
    ArbitrageStrategy = 40
    MomentumStrategy = 41
    MarketMakingStrategy = 42
    PortfolioManager = 60
    RiskManager = 61
    ExecutionEngine = 80
    VenueConnector = 81
    External = 100


class VenueId(IntEnum):
    # stock and derivatives exchanges, brokers (1-99)
    NYSE = 1
    NASDAQ = 2
    NYSEArca = 3
    CBOE = 4
    IEX = 5
    LSE = 6
    CME = 7
    Alpaca = 20
    # centralized crypto exchanges (100-199)
    Binance = 100
    Kraken = 101
    Coinbase = 102
    OKX = 103
    Bybit = 104
    # blockchains (200-299)
    Ethereum = 200
    Polygon = 201
    Arbitrum = 202
    Optimism = 203
    Base = 204
    BSC = 205
    Avalanche = 206
    Solana = 207
    # decentralized exchanges and DeFi protocols (300-399)
    UniswapV2 = 300
    UniswapV3 = 301
    SushiSwap = 302
    Curve = 303
    Balancer = 304
    PancakeSwap = 305
    QuickSwap = 306
    Aave = 320


class AssetType(IntEnum):
    Stock = 1
    ETF = 2
    Option = 3
    Future = 4
    Forex = 5
    CryptoSpot = 6
    Token = 7
    Pool = 8
    LPToken = 9
    NFT = 10
    Bond = 11


class TLVType(IntEnum):
    PoolAddresses = 1
    TertiaryVenue = 2
    MEVBundle = 3
    SlippageModel = 4
    FlashLoanParams = 11
    LiquidationTarget = 12
    SandwichParams = 13
    GasOptimization = 21
    CrossChain = 22
    Layer2Params = 23
    CustomStrategy = 100
    Reserved = 200


class Side(IntEnum):
    Buy = 1
    Sell = 2


class OrderType(IntEnum):
    """FIX tag 40 (OrdType) semantics."""

    Market = 1
    Limit = 2
    Stop = 3
    StopLimit = 4


class TimeInForce(IntEnum):
    """FIX tag 59 (TimeInForce) semantics."""

    Day = 0
    GoodTillCancel = 1
    ImmediateOrCancel = 3
    FillOrKill = 4
    GoodTillDate = 6


class OrdStatus(IntEnum):
    """FIX tag 39 (OrdStatus) semantics."""

    New = 0
    PartiallyFilled = 1
    Filled = 2
    Canceled = 4
    PendingCancel = 6
    Rejected = 8
    PendingNew = 10
    Expired = 12
    PendingReplace = 14


class ExecType(IntEnum):
    """FIX tag 150 (ExecType): the FIX character '0'-'9' is 0-9, 'A'-'Z' is 10-35.

    '1' and '2' (PartialFill, Fill), deprecated since FIX 4.3 in favour of Trade ('F'), have no
    name here.
    """

    New = 0
    DoneForDay = 3
    Canceled = 4
    Replaced = 5
    PendingCancel = 6
    Stopped = 7
    Rejected = 8
    Suspended = 9
    PendingNew = 10
    Calculated = 11
    Expired = 12
    Restated = 13
    PendingReplace = 14
    Trade = 15
    TradeCorrect = 16
    TradeCancel = 17
    OrderStatus = 18


class LiquidityIndicator(IntEnum):
    Maker = 1
    Taker = 2


class VenueStatus(IntEnum):
    Open = 1
    Halted = 2
    Closed = 3
    Degraded = 4


class Severity(IntEnum):
    Info = 1
    Warning = 2
    Error = 3
    Critical = 4


class BookUpdateKind(IntEnum):
    Snapshot = 0
    Delta = 1


class RelayRole(IntEnum):
    """What a client is to a relay: it sends frames, receives them, or asks for statistics."""

    Producer = 1
    Consumer = 2
    Monitor = 3


class RelayCode(IntEnum):
    """Why a relay refused a client (RelayWelcome.status) or a frame (Error.code)."""

    Accepted = 0
    BadMagic = 1
    FrameTooLarge = 2
    WrongDomain = 3
    BadChecksum = 4
    SequenceNotAfter = 5
    ControlFrame = 6
    BadHello = 7
    ProtocolVersion = 8
    SchemaRefused = 9
    Truncated = 10


class GapReason(IntEnum):
    """Why a consumer did not get a stretch of a source's frames. A relay sends the first four
    in a GapNotice; the others come from the transports that report their own losses."""

    Shed = 1
    SequenceJump = 2
    RelayRestart = 3
    Disconnected = 4
    Lapped = 5     # shared-memory ring: producers overwrote what the consumer had not read
    Abandoned = 6  # shared-memory ring: a claim whose producer died before committing it
    Stalled = 7    # shared-memory ring: a claim left uncommitted past the stall timeout
    Dropped = 8    # NATS JetStream: the stream no longer holds messages the consumer missed
    Trimmed = 9    # Redis Streams: the stream was trimmed past entries the group had not read


class RelayFlags(IntEnum):
    """Bits of RelayWelcome.policy_flags: what the relay checks and how it overflows."""

    ValidateChecksums = 1
    RequireSequence = 2
    BlockProducers = 4


class HelloFlags(IntEnum):
    """Bits of RelayHello.hello_flags."""

    ResumeSequence = 1
