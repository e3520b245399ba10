"""Built-in transforms between message types, registered in every registry with built-ins.

The design's migration path turns its legacy fixed ArbitrageOpportunity into the extensible
DeFiSignal, so that consumers are written against DeFiSignal alone:
``registry.read_as(frame, MessageType.DeFiSignal)`` reads either.
"""
from __future__ import annotations

from typing import Any

from ..wire._codec import InstrumentId
from ..wire.enums import MessageType
from ..wire.layouts import MESSAGES

# the design's own conversion: "expected_profit_q = legacy.profit_usd as i128 * 100_000_000"
LEGACY_PROFIT_SCALE = 100_000_000
LEGACY_CONFIDENCE_SCALE = 100  # legacy confidence is 0-10000, DeFiSignal's 0-100
_ZERO_OF_KIND = {"int": 0, "instrument_id": InstrumentId(), "bytes": b"", "ascii": ""}


def _zeros(message_type: MessageType) -> dict[str, Any]:
    """Zero for every field a message of the type must be given."""
    layout = MESSAGES[message_type]
    required = set(layout.required_fields)
    return {f.name: _ZERO_OF_KIND[f.kind] for f in layout.value_fields if f.name in required}


def arbitrage_to_defi_signal(legacy: Any) -> dict[str, Any]:
    """DeFiSignal fields of a legacy ArbitrageOpportunity: the instruments, profit and
    confidence carry over; the signal is numbered by the legacy frame's sequence. Legacy
    fields with no DeFiSignal counterpart (venues as ids, spread, expiry time) are dropped;
    DeFiSignal fields the legacy frame says nothing of (chain, routers, sizes, ...) are 0."""
    header = legacy.header
    return _zeros(MessageType.DeFiSignal) | {
        "signal_id": header.sequence,
        "base_instrument": legacy.base_id,
        "quote_instrument": legacy.quote_id,
        "expected_profit_q": legacy.estimated_profit * LEGACY_PROFIT_SCALE,
        "confidence": legacy.confidence // LEGACY_CONFIDENCE_SCALE,
        "created_at_sec": header.timestamp // 1_000_000_000,
    }


BUILTIN_TRANSFORMS = [
    ((MessageType.ArbitrageOpportunity, 1), (MessageType.DeFiSignal, 1), arbitrage_to_defi_signal),
]
