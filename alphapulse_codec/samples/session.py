"""A realistic trading session with a frame of every message type, for the demo and the tests.

Instruments are discovered first; trades and quotes follow random walks; signals, orders,
fills and reports are derived from them; system messages close the session. The same seed
gives the same bytes.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ..schemas.schema import Schema
from ..wire import _codec as codec
from ..wire.enums import (
    AssetType,
    BookUpdateKind,
    Domain,
    ExecType,
    GapReason,
    LiquidityIndicator,
    OrderType,
    OrdStatus,
    RelayCode,
    RelayRole,
    Severity,
    Side,
    SourceType,
    TimeInForce,
    VenueId,
    VenueStatus,
)
from ..wire.header_fields import HeaderFields
from ..wire.tlv import MEVBundleTLV, PoolAddressTLV, TertiaryVenueTLV

InstrumentId = codec.InstrumentId
START_NS = 1_700_000_000_000_000_000
PRICE_SCALE = 100_000_000  # prices are fixed-point with 8 decimals

USDC_ADDRESS = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
WETH_ADDRESS = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC_WETH_POOL_ADDRESS = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
UNISWAP_V3_ROUTER = "0xe592427a0aece92de3edee1f18e0157c05861564"
SUSHISWAP_ROUTER = "0xd9e1ce17f2641f24ae83637ab66a2cca9c378b9f"


# A strategy's own signal, announced in the session so that readers can register it.
MOMENTUM_SIGNAL = Schema(
    message_type=201, version=1, name="MomentumSignal",
    fields=[("instrument_id", "instrument_id"), ("score", "i32"), ("horizon_s", "u32", 60),
            ("confidence", "u8", 50), ("_reserved", "pad[3]")],
    doc="Short-horizon momentum score of one instrument.")


@dataclass
class Clock:
    """Time and per-source sequence numbers of the session."""

    now: int = START_NS
    sequences: dict[int, int] = field(default_factory=dict)

    def header(self, source: SourceType, step_ns: int) -> HeaderFields:
        self.now += step_ns
        self.sequences[source] = self.sequences.get(source, 0) + 1
        return {"sequence": self.sequences[source], "timestamp": self.now, "source": source}


@dataclass
class Market:
    instrument: InstrumentId
    price: int
    source: SourceType


def _instruments() -> dict[str, InstrumentId]:
    usdc = InstrumentId.ethereum_token(USDC_ADDRESS)
    weth = InstrumentId.ethereum_token(WETH_ADDRESS)
    return {
        "AAPL": InstrumentId.stock(VenueId.NASDAQ, "AAPL"),
        "MSFT": InstrumentId.stock(VenueId.NASDAQ, "MSFT"),
        "BTC-USD": InstrumentId(VenueId.Coinbase, AssetType.CryptoSpot, 0, 1),
        "USDC": usdc,
        "WETH": weth,
        "USDC/WETH": InstrumentId.pool(VenueId.UniswapV3, usdc, weth),
        "USDC/WETH 0.05%": InstrumentId.pool_from_address(VenueId.UniswapV3, USDC_WETH_POOL_ADDRESS),
    }


def build_session(frames: int = 2000, seed: int = 7) -> list[bytes]:
    """About `frames` sealed frames (never fewer than one of every type)."""
    rng = random.Random(seed)
    clock = Clock()
    ids = _instruments()
    out: list[bytes] = []
    out += _discovery(clock, ids)
    markets = [Market(ids["AAPL"], 189 * PRICE_SCALE, SourceType.AlpacaCollector),
               Market(ids["MSFT"], 370 * PRICE_SCALE, SourceType.AlpacaCollector),
               Market(ids["BTC-USD"], 37_000 * PRICE_SCALE, SourceType.CoinbaseCollector)]
    out += _market_data(clock, rng, markets, max(10, frames - 40))
    out += _signals(clock, rng, ids, markets)
    out += order_flow(clock, markets[0])
    out += _system(clock)
    return out


def _discovery(clock: Clock, ids: dict[str, InstrumentId]) -> list[bytes]:
    out = []
    for symbol, decimals in (("AAPL", 2), ("MSFT", 2), ("BTC-USD", 8), ("USDC", 6), ("WETH", 18)):
        out.append(codec.InstrumentDiscovered.encode(
            instrument_id=ids[symbol], decimals=decimals, symbol=symbol,
            **clock.header(SourceType.PolygonCollector, 1_000)))
    for name in ("USDC/WETH", "USDC/WETH 0.05%"):
        metadata = (ids["USDC"].to_bytes() + ids["WETH"].to_bytes()
                    + bytes.fromhex(USDC_WETH_POOL_ADDRESS[2:]))
        out.append(codec.PoolDiscovered.encode(
            instrument_id=ids[name], decimals=18, symbol=name, metadata=metadata,
            **clock.header(SourceType.PolygonCollector, 1_000)))
    out.append(codec.VenueUpdate.encode(
        venue=VenueId.NASDAQ, status=VenueStatus.Open, instrument_count=2, latency_us=180,
        effective_at=clock.now, **clock.header(SourceType.AlpacaCollector, 1_000)))
    return out


def _market_data(clock: Clock, rng: random.Random, markets: list[Market], count: int) -> list[bytes]:
    out = []
    for i in range(count):
        market = rng.choice(markets)
        market.price = max(PRICE_SCALE, market.price + rng.randint(-5, 5) * market.price // 10_000)
        header = clock.header(market.source, rng.randint(10_000, 2_000_000))
        if i % 3:
            out.append(codec.Trade.encode(instrument_id=market.instrument, price=market.price,
                                          volume=rng.randint(1, 500), side=rng.choice(list(Side)),
                                          **header))
        else:
            spread = max(1, market.price // 20_000)
            out.append(codec.Quote.encode(instrument_id=market.instrument,
                                          bid_price=market.price - spread,
                                          ask_price=market.price + spread,
                                          bid_size=rng.randint(1, 900), ask_size=rng.randint(1, 900),
                                          **header))
        if i == count // 2:
            levels = [(market.price - k * PRICE_SCALE // 100, rng.randint(1, 500)) for k in range(5)]
            out.append(codec.OrderBook.encode(
                instrument_id=market.instrument, venue_timestamp=clock.now,
                update_kind=BookUpdateKind.Snapshot, bids=levels,
                asks=[(2 * market.price - p, s) for p, s in levels],
                **clock.header(market.source, 1_000)))
    return out


def _signals(clock: Clock, rng: random.Random, ids: dict[str, InstrumentId],
             markets: list[Market]) -> list[bytes]:
    def header() -> HeaderFields:
        return clock.header(SourceType.ArbitrageStrategy, 50_000)

    usdc, weth, pool = ids["USDC"], ids["WETH"], ids["USDC/WETH"]
    pool_b = ids["USDC/WETH 0.05%"]
    aapl = markets[0]
    builders: list[Callable[[], bytes]] = [
        lambda: codec.ArbitrageOpportunity.encode(
            base_id=ids["BTC-USD"], quote_id=ids["USDC"], venue_a=VenueId.Coinbase,
            venue_b=VenueId.Kraken, spread_bps=12, estimated_profit=42 * PRICE_SCALE,
            confidence=8200, expires_at=clock.now + 5_000_000_000, **header()),
        lambda: codec.PositionUpdate.encode(
            instrument_id=aapl.instrument, portfolio_id=1, quantity=300,
            avg_entry_price=aapl.price - PRICE_SCALE, realized_pnl=0,
            unrealized_pnl=300 * PRICE_SCALE, mark_price=aapl.price,
            **clock.header(SourceType.PortfolioManager, 50_000)),
        lambda: codec.StrategyAlert.encode(
            strategy_id=2, severity=Severity.Warning, alert_code=17, instrument_id=aapl.instrument,
            value=45, threshold=40, text="spread above 40 bps", **header()),
        lambda: codec.RebalanceSignal.encode(
            portfolio_id=1, strategy_id=3, urgency=120, instrument_id=ids["MSFT"],
            current_weight_bps=1800, target_weight_bps=2000, target_quantity=150,
            reference_price=markets[1].price, valid_until=clock.now + 60_000_000_000,
            **clock.header(SourceType.PortfolioManager, 50_000)),
        lambda: codec.RiskMetric.encode(
            portfolio_id=1, metric_kind=1, breach=0, value=125_000 * PRICE_SCALE,
            limit=200_000 * PRICE_SCALE, window_sec=86_400, confidence_bps=9900,
            **clock.header(SourceType.RiskManager, 50_000)),
        lambda: codec.PerformanceUpdate.encode(
            strategy_id=1, portfolio_id=1, period_start=START_NS, period_end=clock.now,
            pnl=1_250 * PRICE_SCALE, fees=35 * PRICE_SCALE, volume=10**6, trade_count=420,
            win_count=251, sharpe_milli=1830, max_drawdown_bps=140, **header()),
        lambda: codec.PoolArbitrageSignal.encode(
            pool_a_id=pool, pool_b_id=pool_b, token0_id=usdc, token1_id=weth,
            pool_a_reserve0=52_000_000 * 10**6, pool_a_reserve1=24_000 * 10**18 // 10**6,
            pool_b_reserve0=31_000_000 * 10**6, pool_b_reserve1=14_000 * 10**18 // 10**6,
            optimal_amount_in=25_000 * 10**6, expected_profit_wei=3 * 10**16, gas_cost_gwei=21,
            confidence=7600, block_number=18_600_000, expires_at_block=18_600_002, **header()),
        lambda: codec.LiquidityImbalance.encode(
            pool_id=pool, token0_id=usdc, token1_id=weth, current_ratio=2_150 * 10**8,
            historical_avg_ratio=2_080 * 10**8, deviation_bps=336, volume_24h=10**12,
            fee_tier=3000, **header()),
        lambda: codec.ImpermanentLossAlert.encode(
            pool_id=pool, token0_id=usdc, token1_id=weth, entry_price_ratio=1_900 * 10**8,
            current_price_ratio=2_150 * 10**8, il_bps=38, threshold_bps=25,
            position_value=500_000 * 10**6, **header()),
        lambda: codec.MEVOpportunity.encode(
            opportunity_type=2, chain_id=1, priority=200, target_tx_hash=rng.randbytes(32),
            estimated_profit_wei=4 * 10**16, max_gas_price_gwei=80, target_block=18_600_001,
            deadline_block=18_600_003, victim_amount_in=10**19, optimal_frontrun_amount=3 * 10**18,
            **header()),
        lambda: codec.FlashLoanSignal.encode(
            chain_id=1, provider=VenueId.Aave, strategy_id=4, asset_id=usdc,
            loan_token_addr=USDC_ADDRESS, amount=2_000_000 * 10**6, fee_ppm=500,
            expected_profit_wei=9 * 10**16, deadline_block=18_600_002, **header()),
        lambda: codec.YieldFarmingUpdate.encode(
            pool_id=pool, reward_token_id=weth, chain_id=1, apr_bps=1250,
            tvl_usd_cents=310_000_000 * 100, reward_per_block=12 * 10**17,
            updated_block=18_600_000, **header()),
        lambda: codec.GasOptimizationSignal.encode(
            chain_id=1, block_number=18_600_000, base_fee_wei=31 * 10**9,
            priority_fee_wei=2 * 10**9, max_fee_wei=70 * 10**9, gas_used_ratio_bps=5400,
            urgency=90, valid_through_block=18_600_003, **header()),
        lambda: codec.DeFiSignal.encode(
            strategy_id=2, signal_id=rng.getrandbits(63), signal_nonce=1, chain_id=1, version=1,
            adapter_id=1, base_instrument=weth, quote_instrument=usdc,
            base_token_addr=WETH_ADDRESS, quote_token_addr=USDC_ADDRESS,
            venue_a_router=UNISWAP_V3_ROUTER, venue_b_router=SUSHISWAP_ROUTER, venue_a_type=2,
            venue_b_type=1, fee_a_ppm=500, fee_b_ppm=3000, direction_flag=1, confidence=87,
            expected_profit_q=37 << 64, required_capital_q=25_000 << 64, gas_estimate_q=3 << 63,
            amount_in_q=25_000 << 64, min_out_q=24_900 << 64, optimal_size_q=25_000 << 64,
            observed_block=18_600_000, valid_through_block=18_600_002, state_hash=rng.getrandbits(64),
            execution_flags=0b101, slippage_bps=30, price_impact_bps=12, replace_signal_id=0,
            created_at_sec=clock.now // 1_000_000_000,
            tlv=[PoolAddressTLV(venue_a_pool=USDC_WETH_POOL_ADDRESS,
                                venue_b_pool="0x397ff1542f962076d0bfe58ea045ffa2d347aca0"),
                 TertiaryVenueTLV(venue_c_router=UNISWAP_V3_ROUTER, venue_c_type=2, fee_c_ppm=100),
                 MEVBundleTLV(target_builder=1, bundle_uuid=rng.getrandbits(32), max_bundle_size=3,
                              priority_fee_gwei=2, target_block_range=2, submission_strategy=1,
                              relay_preferences=0b11)],
            **header()),
    ]
    return [build() for build in builders]


def order_flow(clock: Clock, market: Market, client_id: int = 1001) -> list[bytes]:
    """An order's life: request, acknowledgement, two partial fills with their reports, then
    a modify and a cancel of a follow-up order."""
    venue_id = 555_000_111 + (client_id - 1001) * 16
    quantity, price = 300, market.price

    def engine() -> HeaderFields:
        return clock.header(SourceType.ExecutionEngine, 200_000)

    out = [codec.OrderRequest.encode(
        client_order_id=client_id, instrument_id=market.instrument, side=Side.Buy,
        order_type=OrderType.Limit, time_in_force=TimeInForce.Day, price=price, quantity=quantity,
        account_id=7, strategy_id=1, **clock.header(SourceType.PortfolioManager, 100_000))]
    out.append(codec.OrderStatus.encode(
        client_order_id=client_id, venue_order_id=venue_id, instrument_id=market.instrument,
        order_status=OrdStatus.New, side=Side.Buy, reject_reason=0, cum_quantity=0,
        leaves_quantity=quantity, avg_price=0, transact_time=clock.now, **engine()))
    filled = 0
    for exec_id, last in enumerate((100, 200), 1):
        filled += last
        out.append(codec.Fill.encode(
            client_order_id=client_id, venue_order_id=venue_id, exec_id=exec_id,
            instrument_id=market.instrument, side=Side.Buy, liquidity=LiquidityIndicator.Maker,
            last_price=price, last_quantity=last, cum_quantity=filled,
            leaves_quantity=quantity - filled, avg_price=price, fee=last * 3_000_000,
            transact_time=clock.now, **engine()))
        out.append(codec.ExecutionReport.encode(
            client_order_id=client_id, venue_order_id=venue_id, exec_id=exec_id,
            instrument_id=market.instrument, exec_type=ExecType.Trade,
            order_status=OrdStatus.Filled if filled == quantity else OrdStatus.PartiallyFilled,
            side=Side.Buy, order_type=OrderType.Limit, time_in_force=TimeInForce.Day,
            reject_reason=0, price=price, quantity=quantity, last_price=price, last_quantity=last, cum_quantity=filled,
            leaves_quantity=quantity - filled, avg_price=price, transact_time=clock.now,
            **engine()))
    out.append(codec.OrderModify.encode(
        client_order_id=client_id + 1, orig_client_order_id=client_id + 10,
        venue_order_id=venue_id + 1, instrument_id=market.instrument, side=Side.Sell,
        order_type=OrderType.Limit, time_in_force=TimeInForce.GoodTillCancel,
        price=price + PRICE_SCALE, quantity=50, **clock.header(SourceType.PortfolioManager, 100_000)))
    out.append(codec.OrderCancel.encode(
        client_order_id=client_id + 2, orig_client_order_id=client_id + 1,
        venue_order_id=venue_id + 1, instrument_id=market.instrument, side=Side.Sell,
        quantity=50, **clock.header(SourceType.PortfolioManager, 100_000)))
    return out


def _system(clock: Clock) -> list[bytes]:
    return [
        codec.Heartbeat.encode(service=SourceType.MarketDataRelay, status=1, interval_ms=1000,
                               uptime_ns=clock.now - START_NS, messages_sent=1_000_000,
                               messages_received=999_000, last_sequence=12_345,
                               **clock.header(SourceType.MarketDataRelay, 1_000)),
        codec.Snapshot.encode(snapshot_id=1, first_sequence=1, last_sequence=12_345,
                              frame_count=40, part=0, part_count=1, domain=Domain.MarketData,
                              **clock.header(SourceType.MarketDataRelay, 1_000)),
        codec.ErrorReport.encode(code=4001, related_type=1, severity=Severity.Error,
                           related_sequence=77, text="venue rejected: price outside band",
                           **clock.header(SourceType.ExecutionRelay, 1_000)),
        codec.ConfigUpdate.encode(config_version=2, target=SourceType.SignalRelay,
                                  key="relay.max_queue_size", value=b"100000",
                                  **clock.header(SourceType.SystemRelay, 1_000)),
        MOMENTUM_SIGNAL.announce(**clock.header(SourceType.SignalRelay, 1_000)),
        # a consumer's handshake with the market-data relay, a gap it was told of, statistics
        codec.RelayHello.encode(protocol_version=1, role=RelayRole.Consumer, client_pid=4242,
                                type_mask=b"\x06" + bytes(31), source_mask=b"\xff" * 32,
                                name="strategy-a", **clock.header(SourceType.MomentumStrategy, 1_000)),
        codec.RelayWelcome.encode(protocol_version=1, domain=Domain.MarketData,
                                  status=RelayCode.Accepted, connection_id=7,
                                  max_frame_size=1 << 20, policy_flags=0,
                                  **clock.header(SourceType.MarketDataRelay, 1_000)),
        codec.GapNotice.encode(gap_source=SourceType.CoinbaseCollector, reason=GapReason.Shed,
                               first_sequence=1_001, last_sequence=1_400, frames_lost=400,
                               **clock.header(SourceType.MarketDataRelay, 1_000)),
        codec.RelayStats.encode(domain=Domain.MarketData, relay_pid=4100, started_at=START_NS,
                                frames_in=12_345, bytes_in=790_080, frames_out=12_000,
                                bytes_out=768_000, frames_dropped=400, gaps=1,
                                **clock.header(SourceType.MarketDataRelay, 1_000)),
    ]
