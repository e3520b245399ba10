"""numpy structured dtypes of the frames, derived from layouts.py.

``layout_dtype(layout)`` lays out header plus fixed body exactly as the C struct does: same
field names, offsets and itemsize, with the header and every InstrumentId nested. Padding is
left as gaps. 128-bit integers are a nested ``(lo, hi)`` pair of 64-bit halves (``hi``
signed for i128), which ``int128_to_int`` turns into exact Python ints. ``bytes[N]`` is a
subarray of N ``u1``; ``ascii[N]`` is ``S{N}``.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from .layouts import HEADER, HEADER_SIZE, INSTRUMENT_ID, Field, Layout, MessageLayout

_INTEGER_DTYPES = {
    "u8": "<u1", "u16": "<u2", "u32": "<u4", "u64": "<u8",
    "i8": "<i1", "i16": "<i2", "i32": "<i4", "i64": "<i8",
}
U128 = np.dtype([("lo", "<u8"), ("hi", "<u8")])
I128 = np.dtype([("lo", "<u8"), ("hi", "<i8")])


def _field_dtype(field: Field) -> np.dtype | str | tuple[str, tuple[int]]:
    if field.type in _INTEGER_DTYPES:
        return _INTEGER_DTYPES[field.type]
    if field.type == "u128":
        return U128
    if field.type == "i128":
        return I128
    if field.kind == "instrument_id":
        return instrument_id_dtype()
    if field.kind == "bytes":
        return ("u1", (field.size,))
    return f"S{field.size}"


def _struct_dtype(layout: Layout, base: int = 0, head: list | None = None) -> np.dtype:
    names, formats, offsets = [], [], []
    for name, fmt, offset in head or []:
        names.append(name)
        formats.append(fmt)
        offsets.append(offset)
    for f in layout.value_fields:
        names.append(f.name)
        formats.append(_field_dtype(f))
        offsets.append(base + f.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": base + layout.size})


@cache
def header_dtype() -> np.dtype:
    return _struct_dtype(HEADER)


@cache
def instrument_id_dtype() -> np.dtype:
    return _struct_dtype(INSTRUMENT_ID)


def layout_dtype(layout: MessageLayout) -> np.dtype:
    """The structured dtype of header plus fixed body of a message layout."""
    return _struct_dtype(layout, HEADER_SIZE, [("header", header_dtype(), 0)])


def row_value(field: Field, value: Any) -> Any:
    """A field's Python value as the dtype holds it: 128-bit integers as (lo, hi), bytes as
    an array of u1, text as latin-1 bytes."""
    if field.kind == "int" and field.size == 16:
        return (value & 0xFFFFFFFFFFFFFFFF, value >> 64)
    if field.kind == "bytes":
        return np.frombuffer(value, dtype="u1") if value else 0
    if field.kind == "ascii":
        return value.encode("latin-1")
    return value


def int128_to_int(values: np.ndarray) -> np.ndarray:
    """An object array of exact Python ints from a (lo, hi) 128-bit field array."""
    lo = values["lo"].astype(object)
    hi = values["hi"].astype(object)
    return (hi << 64) | lo
