"""Field values as people read them: fixed-point integers to and from Decimal and float, Q64.64
to Decimal, nanosecond timestamps to and from datetime and numpy.datetime64.

The scale of every field is its unit in layouts.py (docs/protocol.md, section 11, Units): a
price is fixed point with 8 decimals, so 189.25 is 18_925_000_000. The Decimal forms are exact
both ways and refuse what they cannot hold exactly (a digit past the unit's decimals, a value
past the field's range); the float forms round, to the nearest step of the unit.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import numpy as np

from .errors import FieldValueError
from .layouts import PRICE, UNITS

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
U64_MAX = (1 << 64) - 1
Q64_ONE = 1 << 64
Q64_MIN, Q64_MAX = -(1 << 127), (1 << 128) - 1  # i128 and u128 fields together
NS_PER_MICROSECOND = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WIDE = Context(prec=200)  # wide enough for every digit of a 128-bit value and 64 fractional ones


def _integer(raw: Any, what: str, low: int, high: int) -> int:
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, np.integer)):
        raise FieldValueError(f"{what}: expected an int, got {type(raw).__name__}", field=what)
    value = int(raw)
    if not low <= value <= high:
        raise FieldValueError(f"{what}: {value} is outside [{low}, {high}]", field=what)
    return value


def _decimals(unit: str) -> int:
    if unit not in UNITS or UNITS[unit].decimals is None:
        decimal_units = ", ".join(u.name for u in UNITS.values() if u.decimals is not None)
        raise FieldValueError(f"unit {unit!r} is not a decimal fixed point: expected one of"
                              f" {decimal_units}", field="unit")
    return int(UNITS[unit].decimals)  # type: ignore[arg-type]


def _exact_decimal(number: int, exponent: int) -> Decimal:
    """number * 10**exponent as a Decimal, without trailing zeros after the point."""
    value = Decimal(number).scaleb(exponent, _WIDE)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1), context=_WIDE)
    return value.normalize(_WIDE)


def _as_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        raise FieldValueError(f"{what}: a float is not exact; give a Decimal, an int or a str"
                              f" (or use the float form, which rounds), got {value!r}", field=what)
    if isinstance(value, (bool, np.bool_)):
        raise FieldValueError(f"{what}: expected a number, got a bool", field=what)
    try:
        number = Decimal(value) if isinstance(value, (Decimal, int, str, np.integer)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise FieldValueError(f"{what}: expected a finite Decimal, int or numeric str, got"
                              f" {value!r}", field=what)
    return number


def scaled_to_decimal(raw: int, unit: str = PRICE) -> Decimal:
    """The exact value of a fixed-point field of `unit` (price, bps, ppm, wei, ...)."""
    return _exact_decimal(_integer(raw, f"{unit} value", Q64_MIN, Q64_MAX), -_decimals(unit))


def decimal_to_scaled(value: Decimal | int | str, unit: str = PRICE, *, low: int = I64_MIN,
                      high: int = U64_MAX) -> int:
    """The integer of `value` in `unit`; refuses a value with more decimals than the unit
    holds, or outside [low, high] (by default what a 64-bit field of either sign holds)."""
    what = f"{unit} value"
    number = _as_decimal(value, what)
    decimals = _decimals(unit)
    scaled = number.scaleb(decimals, _WIDE)
    if scaled != scaled.to_integral_value():
        raise FieldValueError(f"{what}: {value} has more than {decimals} decimals; the unit"
                              f" {unit} holds {decimals}", field=what)
    raw = int(scaled)
    if not low <= raw <= high:
        raise FieldValueError(f"{what}: {value} is {raw} in {unit}, outside [{low}, {high}]",
                              field=what)
    return raw


def price_to_decimal(raw: int) -> Decimal:
    """The exact price of a price field's integer: 18_925_000_000 is Decimal('189.25')."""
    return _exact_decimal(_integer(raw, "price", I64_MIN, U64_MAX), -UNITS[PRICE].decimals)  # type: ignore[operator]


def decimal_to_price(value: Decimal | int | str) -> int:
    """The integer of a price: Decimal('189.25') (or '189.25', or 189) is 18_925_000_000.
    Refuses more than 8 decimals and values past a signed 64-bit field, never rounds."""
    return decimal_to_scaled(value, PRICE, high=I64_MAX)


def price_to_float(raw: int) -> float:
    """The price of a price field's integer as a float (the nearest float to it)."""
    return float(price_to_decimal(raw))


def float_to_price(value: float) -> int:
    """The integer of a price given as a float, rounded to the nearest 1e-8."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value):
        raise FieldValueError(f"price: expected a finite float, got {value!r}", field="price")
    raw = int(Decimal(float(value)).scaleb(UNITS[PRICE].decimals, _WIDE)  # type: ignore[arg-type]
              .to_integral_value(context=_WIDE))
    if not I64_MIN <= raw <= I64_MAX:
        raise FieldValueError(f"price: {value!r} is outside what a price field holds", field="price")
    return raw


def q64_to_decimal(raw: int) -> Decimal:
    """The exact value of a Q64.64 field (raw / 2**64): 3 << 63 is Decimal('1.5')."""
    number = _integer(raw, "Q64.64 value", Q64_MIN, Q64_MAX)
    return _exact_decimal(number * 5 ** 64, -64)  # 2**-64 is 5**64 * 10**-64


def q64_to_float(raw: int) -> float:
    """A Q64.64 field as a float (the nearest float to it)."""
    return _integer(raw, "Q64.64 value", Q64_MIN, Q64_MAX) / Q64_ONE


def decimal_to_q64(value: Decimal | int | str) -> int:
    """The Q64.64 integer of a value, to the nearest 2**-64 (most decimal fractions have no
    exact binary form; the error is under 2**-65)."""
    what = "Q64.64 value"
    number = _as_decimal(value, what)
    raw = int(_WIDE.multiply(number, Decimal(Q64_ONE)).to_integral_value(context=_WIDE))
    if not Q64_MIN <= raw <= Q64_MAX:
        raise FieldValueError(f"{what}: {value} is outside what a 128-bit Q64.64 field holds",
                              field=what)
    return raw


def timestamp_to_datetime(ns: int) -> datetime:
    """An aware UTC datetime of a nanosecond timestamp (every u64 one is before the year
    2555). datetime stops at microseconds: the nanoseconds below are dropped
    (timestamp_to_datetime64 keeps them)."""
    value = _integer(ns, "timestamp", 0, U64_MAX)
    return _EPOCH + timedelta(microseconds=value // NS_PER_MICROSECOND)


def datetime_to_timestamp(moment: datetime) -> int:
    """The nanosecond timestamp of an aware datetime (naive ones are refused: their zone is
    unknown)."""
    if not isinstance(moment, datetime):
        raise FieldValueError(f"timestamp: expected a datetime, got {type(moment).__name__}",
                              field="timestamp")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FieldValueError(f"timestamp: {moment!r} is naive; give a zone, e.g."
                              " tzinfo=datetime.timezone.utc", field="timestamp")
    delta = moment - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * NS_PER_MICROSECOND
    return _integer(ns, "timestamp", 0, U64_MAX)


def timestamp_to_datetime64(ns: Any) -> Any:
    """numpy.datetime64[ns] of a timestamp, or of an array of them: exact to the nanosecond.
    datetime64 is signed 64-bit, so timestamps from 2262-04-11 on are refused."""
    values = np.asarray(ns)
    if values.dtype.kind not in "iu" and not (values.dtype == object and values.size == 0):
        raise FieldValueError(f"timestamp: expected ints, got {values.dtype}", field="timestamp")
    if values.size and (values.min() < 0 or values.max() > I64_MAX):
        raise FieldValueError("timestamp: a value is outside [0, 2**63 - 1] ns (1970-01-01 to"
                              " 2262-04-11), the range of numpy.datetime64[ns]",
                              field="timestamp")
    converted = values.astype(np.int64).astype("datetime64[ns]")
    return converted[()] if converted.ndim == 0 else converted


def datetime64_to_timestamp(moment: Any) -> Any:
    """The nanosecond timestamp (or array of them) of numpy.datetime64 values, read as UTC.
    NaT and moments before 1970 are refused: a timestamp field holds neither."""
    values = np.asarray(moment)
    if values.dtype.kind != "M":
        raise FieldValueError(f"timestamp: expected numpy.datetime64, got {values.dtype}",
                              field="timestamp")
    if np.isnat(values).any():
        raise FieldValueError("timestamp: NaT is not a time", field="timestamp")
    past_the_end = FieldValueError("timestamp: a moment is past 2262-04-11, the end of"
                                   " nanoseconds in 64 bits", field="timestamp")
    try:
        in_ns = values.astype("datetime64[ns]")
    except OverflowError:  # numpy 2.5 and later; earlier ones wrap, which the check below sees
        raise past_the_end from None
    if not (in_ns.astype(values.dtype) == values).all():
        raise past_the_end
    ns = in_ns.astype(np.int64)
    if ns.size and ns.min() < 0:
        raise FieldValueError("timestamp: a moment before 1970-01-01 has no timestamp",
                              field="timestamp")
    return int(ns) if ns.ndim == 0 else ns.astype(np.uint64)


__all__ = [
    "price_to_decimal", "decimal_to_price", "price_to_float", "float_to_price",
    "scaled_to_decimal", "decimal_to_scaled", "q64_to_decimal", "q64_to_float", "decimal_to_q64",
    "timestamp_to_datetime", "datetime_to_timestamp", "timestamp_to_datetime64",
    "datetime64_to_timestamp",
]
