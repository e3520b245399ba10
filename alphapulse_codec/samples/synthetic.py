"""Large realistic synthetic captures, for ``alphapulse generate``, the benchmarks and the tests.

Trades and quotes follow random walks on real-looking instruments and are built in bulk with
batch encode; about one frame in fifty is derived from them one by one: cross-venue arbitrage
signals, orders and their fills, DeFi signals. Timestamps rise, and sequences rise per source.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..capture.batch import encode_batch
from ..schemas.registry import dtype
from ..wire import _codec as codec
from ..wire.header_fields import HeaderFields
from ..wire.enums import (
    MessageType,
    OrderType,
    Side,
    SourceType,
    TimeInForce,
    VenueId,
)
from .session import PRICE_SCALE, START_NS, UNISWAP_V3_ROUTER, USDC_ADDRESS, WETH_ADDRESS

BLOCK = 100_000
TRADE, QUOTE, DERIVED = 0, 1, 2


@dataclass(frozen=True)
class Listing:
    instrument: codec.InstrumentId
    source: SourceType
    price: int  # starting price, fixed-point
    tick: int


WETH = codec.InstrumentId.ethereum_token(WETH_ADDRESS)
USDC = codec.InstrumentId.ethereum_token(USDC_ADDRESS)
LISTINGS = [
    Listing(codec.InstrumentId.stock(VenueId.NASDAQ, "AAPL"), SourceType.AlpacaCollector,
            189 * PRICE_SCALE, PRICE_SCALE // 100),
    Listing(codec.InstrumentId.stock(VenueId.NASDAQ, "MSFT"), SourceType.AlpacaCollector,
            370 * PRICE_SCALE, PRICE_SCALE // 100),
    Listing(codec.InstrumentId.stock(VenueId.NYSE, "JPM"), SourceType.AlpacaCollector,
            150 * PRICE_SCALE, PRICE_SCALE // 100),
    Listing(codec.InstrumentId.crypto(VenueId.Binance, "BTC", "USDT"), SourceType.BinanceCollector,
            37_000 * PRICE_SCALE, PRICE_SCALE),
    Listing(codec.InstrumentId.crypto(VenueId.Coinbase, "BTC", "USD"), SourceType.CoinbaseCollector,
            37_010 * PRICE_SCALE, PRICE_SCALE),
    Listing(codec.InstrumentId.crypto(VenueId.Kraken, "ETH", "USD"), SourceType.KrakenCollector,
            2_050 * PRICE_SCALE, PRICE_SCALE // 10),
]


class _Session:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.prices = np.array([listing.price for listing in LISTINGS], dtype=np.int64)
        self.sequences: dict[int, int] = {}
        self.now = START_NS
        self.orders = 0

    def _next_sequences(self, sources: np.ndarray) -> np.ndarray:
        sequences = np.zeros(len(sources), dtype=np.uint64)
        for source in np.unique(sources):
            mask = sources == source
            start = self.sequences.get(int(source), 0)
            sequences[mask] = start + np.arange(1, mask.sum() + 1, dtype=np.uint64)
            self.sequences[int(source)] = start + int(mask.sum())
        return sequences

    def block(self, count: int) -> bytes:
        rng = self.rng
        kinds = rng.choice([TRADE, QUOTE, DERIVED], p=[0.60, 0.38, 0.02], size=count)
        listing = rng.integers(0, len(LISTINGS), count)
        stamps = self.now + np.cumsum(rng.integers(1_000, 400_000, count)).astype(np.uint64)
        self.now = int(stamps[-1])
        ticks = np.array([l.tick for l in LISTINGS], dtype=np.int64)[listing]
        steps = rng.integers(-3, 4, count) * ticks
        prices = np.empty(count, dtype=np.int64)
        for index in range(len(LISTINGS)):
            mask = listing == index
            walk = self.prices[index] + np.cumsum(steps[mask])
            prices[mask] = np.maximum(walk, ticks[mask])
            if mask.any():
                self.prices[index] = prices[mask][-1]
        sources = np.array([int(l.source) for l in LISTINGS], dtype=np.uint8)[listing]
        sources[kinds == DERIVED] = SourceType.ArbitrageStrategy
        sequences = self._next_sequences(sources)

        frames: list[bytes | None] = [None] * count
        for kind, build in ((TRADE, self._trades), (QUOTE, self._quotes)):
            where = np.nonzero(kinds == kind)[0]
            if len(where):
                data = build(where, listing, prices, stamps, sequences, sources)
                size = len(data) // len(where)
                for slot, at in enumerate(where.tolist()):
                    frames[at] = data[slot * size:(slot + 1) * size]
        for at in np.nonzero(kinds == DERIVED)[0].tolist():
            header: HeaderFields = {"sequence": int(sequences[at]),
                                    "timestamp": int(stamps[at]), "source": int(sources[at])}
            frames[at] = self._derived(header)
        return b"".join(frames)  # type: ignore[arg-type]

    def _rows(self, message_type: MessageType, where: np.ndarray, stamps: np.ndarray,
              sequences: np.ndarray, sources: np.ndarray, listing: np.ndarray) -> np.ndarray:
        rows = np.zeros(len(where), dtype=dtype(message_type))
        rows["header"]["sequence"] = sequences[where]
        rows["header"]["timestamp"] = stamps[where]
        rows["header"]["source"] = sources[where]
        ids = rows["instrument_id"]
        for index, item in enumerate(LISTINGS):
            mask = listing[where] == index
            ids["venue"][mask] = item.instrument.venue
            ids["asset_type"][mask] = item.instrument.asset_type
            ids["asset_id"][mask] = item.instrument.asset_id
        return rows

    def _trades(self, where, listing, prices, stamps, sequences, sources) -> bytes:
        rows = self._rows(MessageType.Trade, where, stamps, sequences, sources, listing)
        rows["price"] = prices[where]
        rows["volume"] = self.rng.integers(1, 1_000, len(where))
        rows["side"] = self.rng.integers(1, 3, len(where))
        return encode_batch(rows, MessageType.Trade)

    def _quotes(self, where, listing, prices, stamps, sequences, sources) -> bytes:
        rows = self._rows(MessageType.Quote, where, stamps, sequences, sources, listing)
        spread = np.maximum(prices[where] // 20_000, 1)
        rows["bid_price"] = prices[where] - spread
        rows["ask_price"] = prices[where] + spread
        rows["bid_size"] = self.rng.integers(1, 5_000, len(where))
        rows["ask_size"] = self.rng.integers(1, 5_000, len(where))
        return encode_batch(rows, MessageType.Quote)

    def _derived(self, header: HeaderFields) -> bytes:
        """A signal or order from the current prices: BTC across venues, then orders."""
        binance, coinbase = int(self.prices[3]), int(self.prices[4])
        choice = self.orders % 4
        self.orders += 1
        if choice == 0:
            low, high = sorted((binance, coinbase))
            return codec.ArbitrageOpportunity.encode(
                base_id=LISTINGS[3].instrument, quote_id=LISTINGS[4].instrument,
                venue_a=VenueId.Binance, venue_b=VenueId.Coinbase,
                spread_bps=(high - low) * 10_000 // low, estimated_profit=high - low,
                confidence=7000, expires_at=header["timestamp"] + 2_000_000_000, **header)
        if choice == 1:
            return codec.OrderRequest.encode(
                client_order_id=self.orders, instrument_id=LISTINGS[0].instrument, side=Side.Buy,
                order_type=OrderType.Limit, time_in_force=TimeInForce.Day,
                price=int(self.prices[0]), quantity=100, account_id=1, strategy_id=1, **header)
        if choice == 2:
            return codec.Fill.encode(
                client_order_id=self.orders - 1, venue_order_id=self.orders, exec_id=self.orders,
                instrument_id=LISTINGS[0].instrument, side=Side.Buy, liquidity=1,
                last_price=int(self.prices[0]), last_quantity=100, cum_quantity=100,
                leaves_quantity=0, avg_price=int(self.prices[0]), fee=100 * PRICE_SCALE // 1000,
                transact_time=header["timestamp"], **header)
        block = 18_600_000 + self.orders // 4
        return codec.DeFiSignal.encode(
            strategy_id=2, signal_id=self.orders, signal_nonce=self.orders, chain_id=1, version=1,
            adapter_id=1, base_instrument=WETH, quote_instrument=USDC,
            base_token_addr=WETH_ADDRESS, quote_token_addr=USDC_ADDRESS,
            venue_a_router=UNISWAP_V3_ROUTER, venue_a_type=2, fee_a_ppm=500, fee_b_ppm=0,
            direction_flag=1 if coinbase > binance else 0, confidence=80,
            expected_profit_q=(coinbase - binance) << 32, required_capital_q=10_000 << 64,
            gas_estimate_q=3 << 63, amount_in_q=10_000 << 64, min_out_q=9_950 << 64,
            optimal_size_q=10_000 << 64, observed_block=block, valid_through_block=block + 2,
            state_hash=self.orders * 0x9E3779B97F4A7C15 % (1 << 64), execution_flags=0,
            slippage_bps=30, price_impact_bps=5,
            created_at_sec=header["timestamp"] // 1_000_000_000, **header)


def generate(frames: int, seed: int = 7) -> bytes:
    """A capture of `frames` frames, in memory."""
    session = _Session(seed)
    return b"".join(session.block(min(BLOCK, frames - done)) for done in range(0, frames, BLOCK))


def write_capture(path: str | Path, frames: int, seed: int = 7) -> int:
    """Write a capture of `frames` frames to `path`, a block at a time; returns the count."""
    session = _Session(seed)
    with open(path, "wb") as stream:
        for done in range(0, frames, BLOCK):
            stream.write(session.block(min(BLOCK, frames - done)))
    return frames
