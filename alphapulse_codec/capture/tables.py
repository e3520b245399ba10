"""Readable Arrow tables of batch-decoded frames: what a person wants to see of one type.

Per type, in this order: ``timestamp`` (``timestamp("ns", "UTC")``), ``sequence``, ``source``
(dictionary of SourceType names), then the body fields, then the variable tail's fields:

- a field of unit ``price`` as float64, or decimal128(20, 8) with ``prices="decimal"``, or
  its integer with ``prices="raw"``; a ``q64.64`` field as float64 (exact 128-bit integers
  with ``prices`` "decimal" or "raw": no decimal column holds 64 binary fractional digits);
  a ``timestamp`` field as a timestamp; the other units (bps, ppm, wei, ...) as the integers
  their names announce;
  (a time past 2262-04-11, which no timestamp column holds, is null there, with an
  UnreadableValueWarning);
- a field an enum names as a dictionary column of the names (a value no member names by its
  number, as text);
- an InstrumentId as a dictionary column of its debug form (with the symbol an ObjectCache
  knows, where it knows one) and beside it ``<name>_key``, its lossless 96-bit key as
  decimal128(29, 0);
- other 128-bit integers as decimal256(39, 0), ``bytes[N]`` as fixed-size binary, ``ascii``
  and ``utf8`` tails as text (bytes that are not UTF-8 read as U+FFFD: raw keeps them),
  ``bytes`` tails as binary, book levels as lists of {price, size}.

The wire internals (header magic, message_type, version, flags, payload_size, checksum; the
count fields of the tails and TLV position; the frame's ``offset`` and its ``tail`` bytes)
are columns only with ``internals=True``. Everything is built column at a time from the numpy
rows and the tail buffers; Python loops run per distinct instrument or enum value, not per row.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..wire._codec import InstrumentId
from ..wire.layouts import HEADER, PRICE, PRICE_DECIMALS, Q64_64, TIMESTAMP, Field, MessageLayout

if TYPE_CHECKING:
    import pyarrow as pa

    from .batch import BatchResult

PRICE_FORMS = ("float", "decimal", "raw")
READABLE_HEADER = ("timestamp", "sequence", "source")
PRICE_DECIMAL_PRECISION = 20  # every i64 and u64 price, 8 decimals included
KEY_PRECISION = 29  # 2**96 has 29 digits
INT128_PRECISION = 39  # 2**128 has 39 digits
I64_MAX = (1 << 63) - 1


def check_prices(prices: str) -> None:
    if prices not in PRICE_FORMS:
        raise ValueError(f"prices={prices!r}: expected one of {', '.join(PRICE_FORMS)}")


def readable_table(result: BatchResult, message_type: int, prices: str = "float",
                   internals: bool = False, cache: Any = None) -> pa.Table:
    """The readable table of one type's frames (see the module's docstring)."""
    import pyarrow as pa

    check_prices(prices)
    rows = result[message_type]
    layout: MessageLayout = result.registry.layout(message_type)
    offsets = result.offsets(message_type)
    columns: dict[str, Any] = {}
    body_names = {f.name for f in layout.value_fields} | {t.name for t in layout.tail}
    header = rows["header"]
    readable = [HEADER.field(name) for name in READABLE_HEADER]
    rest = [f for f in HEADER.fields if f.name not in READABLE_HEADER] if internals else []
    for f in readable + rest:
        plain = f.name in READABLE_HEADER and f.name not in body_names
        name = f.name if plain else f"header.{f.name}"
        columns[name] = _field_column(f, header[f.name], offsets, prices, cache, columns, name)
    hidden = layout.derived_fields
    for f in layout.value_fields:
        if f.name not in hidden or internals:
            columns[f.name] = _field_column(f, rows[f.name], offsets, prices, cache, columns,
                                            f.name)
    if layout.tail:
        starts, lengths, data = tail_buffers(result, message_type)
        columns.update(_tail_columns(layout, rows, starts, lengths, data, prices))
    if internals:
        columns["offset"] = pa.array(offsets)
        starts, lengths, data = tail_buffers(result, message_type)
        columns["tail"] = _binary(data, starts, lengths)
    return pa.table(columns)


def _field_column(f: Field, values: np.ndarray, offsets: np.ndarray, prices: str, cache: Any,
                  columns: dict[str, Any], name: str) -> Any:
    """The column of one field; an InstrumentId adds its key column to `columns` too."""
    import pyarrow as pa

    if f.kind == "instrument_id":
        readable, key = _instrument_columns(values, cache)
        columns[name] = readable  # the readable form first, its key beside it
        columns[f"{name}_key"] = key
        return readable
    if f.kind == "bytes":
        raw = np.ascontiguousarray(values)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(f.size), len(raw),
                                                    [None, pa.py_buffer(raw)])
    if f.kind == "ascii":
        return pa.array(np.char.decode(values, "latin-1"), pa.string())
    if f.unit == TIMESTAMP:
        return _timestamps(values, offsets, name)
    if f.enum is not None:
        return _enum_column(values, f.enum)
    if f.unit == PRICE and prices != "raw":
        return _prices(values, prices)
    if f.size == 16:
        if f.unit == Q64_64 and prices == "float":
            return pa.array(values["hi"].astype(np.float64) + values["lo"] / float(1 << 64))
        return _decimal_from_halves(values["lo"], values["hi"],
                                    pa.decimal256(INT128_PRECISION, 0), 4)
    return pa.array(values)


class UnreadableValueWarning(UserWarning):
    """Values that a readable column cannot hold, left null there (raw=True keeps them)."""


def _timestamps(values: np.ndarray, offsets: np.ndarray, name: str) -> Any:
    import pyarrow as pa

    late = values > I64_MAX
    if late.any():
        first = int(np.argmax(late))
        warnings.warn(UnreadableValueWarning(
            f"{name}: {int(late.sum())} value(s) past 2262-04-11, the last time a timestamp"
            f" column holds (the first, {int(values[first])}, in the frame at byte"
            f" {int(offsets[first])}), are null in the readable table; raw=True keeps them"),
            stacklevel=4)
    return pa.array(values.astype(np.int64), pa.timestamp("ns", "UTC"), mask=late)


def _enum_column(values: np.ndarray, enum: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(values))
    names = []
    for value in encoded.dictionary.to_pylist():
        try:
            names.append(enum(value).name)
        except ValueError:  # no member names it: kept as its number
            names.append(str(value))
    return pa.DictionaryArray.from_arrays(encoded.indices, pa.array(names, pa.string()))


def _prices(values: np.ndarray, prices: str) -> Any:
    import pyarrow as pa

    if prices == "float":
        return pa.array(values / 10.0 ** PRICE_DECIMALS)
    negative = values < 0 if values.dtype.kind == "i" else np.zeros(len(values), dtype=bool)
    high = np.where(negative, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))
    return _decimal_from_halves(values.view(np.uint64) if values.dtype.kind == "i" else values,
                                high, pa.decimal128(PRICE_DECIMAL_PRECISION, PRICE_DECIMALS), 2)


def _decimal_from_halves(low: np.ndarray, high: np.ndarray, type_: Any, words: int) -> Any:
    """A decimal column whose unscaled integers are (high << 64 | low), high signed, stored
    as `words` little-endian 64-bit words each (2 for decimal128, 4 for decimal256)."""
    import pyarrow as pa

    storage = np.zeros((len(low), words), dtype="<u8")
    storage[:, 0] = low
    storage[:, 1] = high.view(np.uint64) if high.dtype.kind == "i" else high
    if words > 2 and high.dtype.kind == "i":  # sign-extended into the words above
        storage[:, 2:] = np.where(high < 0, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))[:, None]
    return pa.Array.from_buffers(type_, len(low), [None, pa.py_buffer(storage)])


def _instrument_columns(values: np.ndarray, cache: Any) -> tuple[Any, Any]:
    """The debug form of each ID, one Python call per distinct ID, and the lossless keys."""
    import pyarrow as pa

    import pyarrow.compute as pc

    raw = np.ascontiguousarray(values)
    wire = pa.FixedSizeBinaryArray.from_buffers(pa.binary(raw.dtype.itemsize), len(raw),
                                                [None, pa.py_buffer(raw)])
    encoded = pc.dictionary_encode(wire)
    names = [InstrumentId.from_bytes(d).debug_info(cache) for d in encoded.dictionary.to_pylist()]
    readable = pa.DictionaryArray.from_arrays(encoded.indices, pa.array(names, pa.string()))
    high = (values["venue"].astype(np.uint64) << np.uint64(16)
            | values["asset_type"].astype(np.uint64) << np.uint64(8)
            | values["reserved"].astype(np.uint64))
    key = _decimal_from_halves(values["asset_id"], high, pa.decimal128(KEY_PRECISION, 0), 2)
    return readable, key


def tail_buffers(result: BatchResult, message_type: int) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Each row's tail as (starts, lengths) into one uint8 buffer, and the buffer."""
    group = result._type(message_type).only
    count = len(result[message_type])
    if group is None:  # versions merged: each row's tail is in its own version's buffer
        tails = [result.tail(message_type, row) for row in range(count)]
        lengths = np.array([len(t) for t in tails], dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        return starts, lengths, np.frombuffer(b"".join(tails), dtype=np.uint8)
    index = group.tail_index
    starts = np.zeros(count, dtype=np.int64)
    lengths = np.zeros(count, dtype=np.int64)
    starts[index[:, 0]] = index[:, 1]
    lengths[index[:, 0]] = index[:, 2]
    return starts, lengths, np.frombuffer(group.tails, dtype=np.uint8)


def _gather(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """The pieces data[start:start + length], back to back, and their offsets."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return data[positions], offsets


def _binary(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, text: bool = False) -> Any:
    import pyarrow as pa

    flat, offsets = _gather(data, starts, lengths)
    array = pa.Array.from_buffers(pa.large_binary(), len(lengths),
                                  [None, pa.py_buffer(offsets), pa.py_buffer(flat)])
    if not text:
        return array
    try:
        return array.cast(pa.large_string())
    except pa.ArrowInvalid:  # bytes that are not UTF-8: the readable form replaces them
        return pa.array([value.decode("utf-8", "replace") for value in array.to_pylist()],
                        pa.large_string())


def _tail_columns(layout: MessageLayout, rows: np.ndarray, starts: np.ndarray,
                  lengths: np.ndarray, data: np.ndarray, prices: str) -> dict[str, Any]:
    """The fields of the variable tail, cut out of each row's tail by its count fields."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    position = starts.copy()
    for tail in layout.tail:
        counts = rows[tail.count_field].astype(np.int64)
        sizes = counts * tail.element_size
        if tail.kind == "levels":
            flat, _ = _gather(data, position, sizes)
            levels = flat.view([("price", "<i8"), ("size", "<u8")])  # BOOK_LEVEL_SIZE bytes
            price = (pa.array(levels["price"]) if prices == "raw"
                     else _prices(levels["price"], prices))
            items = pa.StructArray.from_arrays([price, pa.array(levels["size"])],
                                               ["price", "size"])
            offsets = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            out[tail.name] = pa.LargeListArray.from_arrays(pa.array(offsets), items)
        else:
            out[tail.name] = _binary(data, position, sizes, text=tail.kind == "utf8")
        position = position + sizes
    return out

