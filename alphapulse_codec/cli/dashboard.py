"""What ``alphapulse top`` shows, kept apart from the terminal: rates per relay and per message
type, the last trade and quote per instrument, open signals, orders and fills, drops and gaps,
fed with what a multi-relay consumer receives and the relays' counters."""
from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..capture.batch import BatchResult
from ..relay.client import Gap
from ..schemas.cache import ObjectCache
from ..wire.enums import GapReason, MessageType, OrdStatus, Side, SourceType
from .text import source_text

PRICE_SCALE = 100_000_000
LAST_ROWS = 512         # rows of a batch looked at for the last trade and quote per instrument
SIGNALS_SHOWN = 8
ORDERS_SHOWN = 8
RATE_WINDOW = 1.0       # seconds over which a rate is measured

SIGNAL_TYPES = frozenset(range(20, 40))
DISCOVERY_TYPES = frozenset({MessageType.InstrumentDiscovered, MessageType.PoolDiscovered})
ORDER_TYPES = frozenset({MessageType.OrderRequest, MessageType.OrderStatus,
                         MessageType.OrderCancel, MessageType.OrderModify})
FILL_TYPES = frozenset({MessageType.Fill, MessageType.ExecutionReport})


def price_text(value: int) -> str:
    return f"{value / PRICE_SCALE:,.4f}".rstrip("0").rstrip(".")


def _short(status: str) -> str:
    """A relay's status without the socket path and the advice: "down: no ... running"."""
    if not status.startswith("down: "):
        return status
    reason = status[len("down: "):].split(": ", 1)[-1].split(" (")[0]
    return f"down: {reason}"[:60]


def _enum_name(kind: Any, value: int) -> str:
    try:
        return str(kind(value).name)
    except ValueError:
        return str(value)


@dataclass
class RelayView:
    frames: int = 0
    per_type: Counter[int] = field(default_factory=Counter)
    rate: float = 0.0
    type_rates: dict[int, float] = field(default_factory=dict)
    window_frames: int = 0
    window_types: Counter[int] = field(default_factory=Counter)
    status: str = "down: not connected yet"
    dropped: int = 0
    refused: int = 0
    relay_gaps: int = 0


@dataclass
class OrderView:
    client_order_id: int
    instrument: str
    side: str
    quantity: int
    price: int
    status: str = "sent"
    filled: int = 0
    fills: int = 0


class Dashboard:
    """The state ``alphapulse top`` draws."""

    def __init__(self, domains: list[str]) -> None:
        self.relays = {domain: RelayView() for domain in domains}
        self.cache = ObjectCache()
        self.trades: dict[int, tuple[str, Any]] = {}   # instrument key -> (name, Trade)
        self.quotes: dict[int, tuple[str, Any]] = {}
        self.signals: deque[tuple[str, str, str]] = deque(maxlen=SIGNALS_SHOWN)
        self.orders: dict[int, OrderView] = {}
        self.fills = 0
        self.gaps: dict[str, list[Gap]] = {domain: [] for domain in domains}
        self.window_started = time.monotonic()

    # ---- feeding ---------------------------------------------------------------------

    def feed(self, domain: str, result: BatchResult) -> None:
        relay = self.relays[domain]
        # discoveries first: the trades of the same batch are then shown by their names
        for message_type in sorted(result.types, key=lambda t: t not in DISCOVERY_TYPES):
            count = len(result[message_type])
            relay.frames += count
            relay.window_frames += count
            relay.per_type[message_type] += count
            relay.window_types[message_type] += count
            if message_type in DISCOVERY_TYPES:
                for row in range(count):
                    self.cache.process_message(result.message(message_type, row))
            elif message_type in (MessageType.Trade, MessageType.Quote):
                self._last_per_instrument(result, message_type, count)
            elif message_type in SIGNAL_TYPES:
                for row in range(max(0, count - SIGNALS_SHOWN), count):
                    self._signal(result.message(message_type, row))
            elif message_type in ORDER_TYPES or message_type in FILL_TYPES:
                for row in range(count):
                    self._order(result.message(message_type, row))

    def _name(self, instrument: Any) -> str:
        symbol = self.cache.symbol(instrument)
        return symbol if symbol else instrument.debug_info()

    def _last_per_instrument(self, result: BatchResult, message_type: int, count: int) -> None:
        kept = self.trades if message_type == MessageType.Trade else self.quotes
        seen: set[int] = set()
        for row in range(count - 1, max(-1, count - 1 - LAST_ROWS), -1):
            message = result.message(message_type, row)
            key = message.instrument_id.key
            if key not in seen:
                seen.add(key)
                kept[key] = (self._name(message.instrument_id), message)

    def _signal(self, message: Any) -> None:
        name = _enum_name(MessageType, message.header.message_type)
        subject = next((getattr(message, f) for f in ("instrument_id", "pool_id", "base_id",
                                                      "pool_a_id", "base_instrument")
                        if hasattr(message, f)), None)
        about = self._name(subject) if subject is not None else "-"
        self.signals.appendleft((name, source_text(message.header.source), about))

    def _order(self, message: Any) -> None:
        message_type = message.header.message_type
        order_id = message.client_order_id
        order = self.orders.get(order_id)
        if message_type == MessageType.OrderRequest or order is None:
            order = OrderView(order_id, self._name(message.instrument_id),
                              _enum_name(Side, message.side), getattr(message, "quantity", 0),
                              getattr(message, "price", 0))
            self.orders[order_id] = order
            while len(self.orders) > 4 * ORDERS_SHOWN:
                del self.orders[next(iter(self.orders))]
        if message_type == MessageType.OrderCancel:
            order.status = "cancel sent"
        elif message_type == MessageType.OrderModify:
            order.status = "modify sent"
        elif message_type in (MessageType.OrderStatus, MessageType.ExecutionReport):
            order.status = _enum_name(OrdStatus, message.order_status)
        if message_type == MessageType.Fill:
            self.fills += 1
            order.fills += 1
            order.filled = message.cum_quantity

    def relay_status(self, status: dict[str, str], gaps: dict[str, list[Gap]]) -> None:
        for domain, text in status.items():
            self.relays[domain].status = text
        self.gaps = gaps

    def relay_counters(self, domain: str, report: dict[str, Any] | None) -> None:
        if report is not None:
            relay = self.relays[domain]
            relay.dropped = report["frames_dropped"]
            relay.refused = report["frames_refused"]
            relay.relay_gaps = report["gaps"]

    def tick(self) -> None:
        """Close the rate window when it is due."""
        elapsed = time.monotonic() - self.window_started
        if elapsed < RATE_WINDOW:
            return
        for relay in self.relays.values():
            relay.rate = relay.window_frames / elapsed
            relay.type_rates = {t: n / elapsed for t, n in relay.window_types.items()}
            relay.window_frames = 0
            relay.window_types = Counter()
        self.window_started = time.monotonic()

    # ---- drawing ---------------------------------------------------------------------

    def render(self, interactive: bool = True) -> Group:
        # the key first: a terminal shorter than the view crops its bottom
        title = "alphapulse top: q quits" if interactive else "alphapulse top"
        return Group(Text(title, style="bold"), self._relays_table(),
                     self._gaps_text(), self._types_table(), self._market_table(),
                     self._signals_table(), self._orders_table())

    def _relays_table(self) -> Panel:
        table = Table("relay", "status", "frames", "frames/s", "dropped", "refused", "gaps",
                      box=None, header_style="bold")
        for domain, relay in self.relays.items():
            up = relay.status == "up"
            table.add_row(domain, Text(_short(relay.status), style="green" if up else "red"),
                          f"{relay.frames:,}", f"{relay.rate:,.0f}", f"{relay.dropped:,}",
                          f"{relay.refused:,}",
                          f"{relay.relay_gaps:,} / {self._client_gaps(domain):,}")
        return Panel(table, title="relays (gaps: relay / seen here)")

    def _client_gaps(self, domain: str) -> int:
        return sum(1 for gap in self.gaps.get(domain, []) if gap.reason != GapReason.RelayRestart)

    def _types_table(self) -> Panel:
        table = Table("relay", "type", "frames", "frames/s", box=None, header_style="bold")
        for domain, relay in self.relays.items():
            for message_type, count in sorted(relay.per_type.items()):
                table.add_row(domain, _enum_name(MessageType, message_type), f"{count:,}",
                              f"{relay.type_rates.get(message_type, 0.0):,.0f}")
        return Panel(table, title="message types")

    def _market_table(self) -> Panel:
        table = Table("instrument", "last trade", "size", "side", "bid", "ask",
                      box=None, header_style="bold")
        for key in sorted(set(self.trades) | set(self.quotes),
                          key=lambda k: (self.trades.get(k) or self.quotes[k])[0]):
            name, trade = self.trades.get(key, ("", None))
            quote = self.quotes.get(key, ("", None))[1]
            table.add_row(name or self.quotes[key][0],
                          price_text(trade.price) if trade else "-",
                          f"{trade.volume:,}" if trade else "-",
                          _enum_name(Side, trade.side) if trade else "-",
                          price_text(quote.bid_price) if quote else "-",
                          price_text(quote.ask_price) if quote else "-")
        return Panel(table, title="market data")

    def _signals_table(self) -> Panel:
        table = Table("signal", "from", "about", box=None, header_style="bold")
        for row in self.signals:
            table.add_row(*row)
        return Panel(table, title="latest signals")

    def _orders_table(self) -> Panel:
        table = Table("order", "instrument", "side", "quantity", "price", "filled", "fills",
                      "status", box=None, header_style="bold")
        for order in list(self.orders.values())[-ORDERS_SHOWN:]:
            table.add_row(str(order.client_order_id), order.instrument, order.side,
                          f"{order.quantity:,}", price_text(order.price) if order.price else "-",
                          f"{order.filled:,}", str(order.fills), order.status)
        return Panel(table, title=f"orders ({self.fills:,} fills)")

    def _gaps_text(self) -> Text:
        lines = []
        for domain, gaps in self.gaps.items():
            for gap in gaps[-3:]:
                reason = _enum_name(GapReason, gap.reason)
                if gap.reason == GapReason.RelayRestart:
                    lines.append(f"{domain}: relay restarted")
                else:
                    lost = "?" if gap.frames_lost is None else f"{gap.frames_lost:,}"
                    whose = "any source" if gap.source is None else _enum_name(SourceType,
                                                                               gap.source)
                    lines.append(f"{domain}: {lost} frames of {whose} ({reason},"
                                 f" {gap.first}..{gap.last})")
        return Text("gaps: " + ("; ".join(lines) if lines else "none"))
