"""Export of batch-decoded frames: pandas, Arrow, Parquet, CSV, NumPy .npz and JSONL.

Columns are the dtype's fields flattened with dots (``header.sequence``,
``instrument_id.asset_id``), then ``offset`` (the frame's byte offset in the capture) and
``tail`` (the bytes after the fixed body: TLVs or the variable tail; empty when none).
Every value keeps its exact value:

| field | pandas | Arrow / Parquet | CSV | .npz | JSONL |
| --- | --- | --- | --- | --- | --- |
| integers up to 64 bits | int/uint columns | int/uint columns | decimal text | as the dtype | numbers |
| 128-bit | Python ints (object) | decimal strings | decimal text | (lo, hi) pairs | numbers |
| bytes[N], tail | bytes (object) | fixed-size / variable binary | "0x" + hex | uint8 | "0x" + hex |

Arrow and Parquet have no 128-bit integer, hence strings there; .npz stores the structured
rows as they are. pandas and pyarrow are optional: ``pip install alphapulse_codec[arrow]``.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..wire.jsonmap import to_json

if TYPE_CHECKING:
    from .batch import BatchResult

FORMATS = ("parquet", "arrow", "csv", "npz", "jsonl")


def _is_int128(field_dtype: np.dtype) -> bool:
    return field_dtype.names == ("lo", "hi")


def _flatten(rows: np.ndarray, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """(column name, column) for every leaf of a structured array; 128-bit pairs stay whole."""
    for name in rows.dtype.names:
        column = rows[name]
        if column.dtype.names and not _is_int128(column.dtype):
            yield from _flatten(column, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", column


def _int128(column: np.ndarray) -> list[int]:
    return ((column["hi"].astype(object) << 64) | column["lo"].astype(object)).tolist()


def _tails(result: BatchResult, message_type: int) -> list[bytes]:
    return [result.tail(message_type, i) for i in range(len(result[message_type]))]


def columns(result: BatchResult, message_type: int, binary: str = "bytes") -> dict[str, Any]:
    """The exact columns of one type: numpy arrays for integers, lists for 128-bit values and
    bytes (as bytes, or as "0x" hex when binary="hex")."""
    rows = result[message_type]
    out: dict[str, Any] = {}

    def as_binary(values: list[bytes]) -> list[Any]:
        return values if binary == "bytes" else ["0x" + v.hex() for v in values]

    for name, column in _flatten(rows):
        if column.dtype.names:
            out[name] = _int128(column)
        elif column.ndim == 2:
            out[name] = as_binary([bytes(row) for row in column])
        elif column.dtype.kind == "S":
            out[name] = [value.decode("latin-1") for value in column.tolist()]
        else:
            out[name] = column
    out["offset"] = result.offsets(message_type)
    out["tail"] = as_binary(_tails(result, message_type))
    return out


def to_pandas(result: BatchResult, message_type: int) -> Any:
    """A pandas DataFrame of one type's frames."""
    import pandas as pd

    return pd.DataFrame(columns(result, message_type))


def to_arrow(result: BatchResult, message_type: int) -> Any:
    """A pyarrow Table of one type's frames (128-bit integers as decimal strings)."""
    import pyarrow as pa

    arrays = {}
    for name, values in columns(result, message_type).items():
        if isinstance(values, np.ndarray):
            arrays[name] = pa.array(values)
        elif values and isinstance(values[0], int):
            arrays[name] = pa.array([str(v) for v in values], pa.string())
        elif values and isinstance(values[0], str):
            arrays[name] = pa.array(values, pa.string())
        else:
            arrays[name] = pa.array(values, pa.binary())
    return pa.table(arrays)


def _per_type_paths(result: BatchResult, out: Path) -> dict[int, Path]:
    """One file per type: OUT itself for a single type, else OUT's stem + .Type + suffix."""
    if len(result.types) == 1:
        return {result.types[0]: out}
    return {t: out.with_name(f"{out.stem}.{result.type_name(t)}{out.suffix}") for t in result.types}


def write(result: BatchResult, out: str | os.PathLike[str], fmt: str | None = None) -> list[Path]:
    """Write `result` as `fmt` (default: OUT's suffix); returns the files written."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "npz":
        return [_write_npz(result, out)]
    if fmt == "jsonl":
        return [_write_jsonl(result, out)]
    written = []
    for message_type, path in _per_type_paths(result, out).items():
        if fmt == "csv":
            _write_csv(result, message_type, path)
        else:
            table = to_arrow(result, message_type)
            if fmt == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(table, path)
            else:
                import pyarrow.feather as feather

                feather.write_feather(table, path)
        written.append(path)
    return written


def _write_csv(result: BatchResult, message_type: int, path: Path) -> None:
    data = columns(result, message_type, binary="hex")
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(data)
        lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in data.values()]
        writer.writerows(zip(*lists))


def _write_npz(result: BatchResult, path: Path) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for message_type in result.types:
        name = result.type_name(message_type)
        tails = _tails(result, message_type)
        arrays[name] = result[message_type]
        arrays[f"{name}.offset"] = result.offsets(message_type)
        arrays[f"{name}.tail"] = np.frombuffer(b"".join(tails), dtype=np.uint8)
        arrays[f"{name}.tail_length"] = np.array([len(t) for t in tails], dtype=np.int64)
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)
    return path


def _write_jsonl(result: BatchResult, path: Path) -> Path:
    order = sorted((int(offset), message_type, row) for message_type in result.types
                   for row, offset in enumerate(result.offsets(message_type)))
    with open(path, "w") as stream:
        for _, message_type, row in order:
            stream.write(json.dumps(to_json(result.message(message_type, row)),
                                    separators=(",", ":")) + "\n")
    return path
