"""Export of batch-decoded frames: pandas, Arrow, Parquet, CSV, NumPy .npz and JSONL.

By default a table is what a person reads (capture/tables.py): timestamps as UTC times,
prices as numbers, enum values and instruments by name, no wire internals. ``raw=True`` gives
the exact columns instead: the dtype's fields flattened with dots (``header.sequence``,
``instrument_id.asset_id``), then ``offset`` (the frame's byte offset in the capture) and
``tail`` (the bytes after the fixed body: TLVs or the variable tail; empty when none), every
value exact:

| field | pandas | Arrow / Parquet | CSV | .npz | JSONL |
| --- | --- | --- | --- | --- | --- |
| integers up to 64 bits | int/uint columns | int/uint columns | decimal text | as the dtype | numbers |
| 128-bit | Python ints (object) | decimal strings | decimal text | (lo, hi) pairs | numbers |
| bytes[N], tail | bytes (object) | fixed-size / variable binary | "0x" + hex | uint8 | "0x" + hex |

Arrow and Parquet have no 128-bit integer, hence strings there; .npz stores the structured
rows as they are, and JSONL is the shared JSON mapping whatever the options.

``write_batches`` writes the chunks of ``iter_batches`` as they come, so a capture of any size
goes to Parquet, Arrow, CSV or JSONL in memory bounded by the chunk size (.npz holds whole
arrays, so it gathers them). pandas and pyarrow are optional:
``pip install alphapulse_codec[arrow]``.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..wire.enums import MessageType
from ..wire.errors import ParseError
from ..wire.jsonmap import to_json
from ..wire.optional import require
from .tables import check_prices, readable_table

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


def to_pandas(result: BatchResult, message_type: int, *, raw: bool = False,
              prices: str = "float", internals: bool = False, cache: Any = None) -> Any:
    """A pandas DataFrame of one type's frames: readable (see capture/tables.py), or with
    `raw` the exact columns."""
    require("pandas", "to_pandas")
    if not raw:
        require("pyarrow", "readable tables")
    import pandas as pd

    if raw:
        return pd.DataFrame(columns(result, message_type))
    table = readable_table(result, message_type, prices, internals, _named_by(result, cache))
    keys = instrument_key_columns(result, message_type, table.column_names)
    frame = table.drop_columns(keys).to_pandas()
    for name in keys:  # as the ints InstrumentId.from_key takes, not one Decimal per row
        frame.insert(table.column_names.index(name), name, _python_keys(table.column(name)))
    return frame


def to_arrow(result: BatchResult, message_type: int, *, raw: bool = False,
             prices: str = "float", internals: bool = False, cache: Any = None) -> Any:
    """A pyarrow Table of one type's frames: readable, or with `raw` the exact columns
    (128-bit integers as decimal strings)."""
    require("pyarrow", "to_arrow")
    if not raw:
        return readable_table(result, message_type, prices, internals, _named_by(result, cache))
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


def _named_by(result: BatchResult, cache: Any) -> Any:
    """`cache`, or else one of the result's own discovery frames."""
    if cache is not None:
        return cache
    from ..schemas.cache import ObjectCache

    discoveries = _Discoveries(ObjectCache(result.registry))
    discoveries.learn(result)
    return discoveries.cache


def instrument_key_columns(result: BatchResult, message_type: int,
                           names: list[str]) -> list[str]:
    layout = result.registry.layout(message_type)
    keys = [f"{f.name}_key" for f in layout.value_fields if f.kind == "instrument_id"]
    return [name for name in keys if name in names]


def _python_keys(column: Any) -> np.ndarray:
    """The 96-bit keys as Python ints (what InstrumentId.from_key takes), one conversion per
    distinct key."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column).combine_chunks()
    distinct = np.array([int(key) for key in encoded.dictionary.to_pylist()], dtype=object)
    return distinct[encoded.indices.to_numpy(zero_copy_only=False)]


def write(result: BatchResult, out: str | os.PathLike[str], fmt: str | None = None, *,
          raw: bool = False, prices: str = "float", internals: bool = False,
          cache: Any = None) -> list[Path]:
    """Write `result` as `fmt` (default: OUT's suffix); returns the files written."""
    return write_batches([result], out, fmt, raw=raw, prices=prices, internals=internals,
                         cache=cache)


def write_batches(batches: Iterable[BatchResult], out: str | os.PathLike[str],
                  fmt: str | None = None, *, raw: bool = False, prices: str = "float",
                  internals: bool = False, cache: Any = None) -> list[Path]:
    """Write the chunks of one capture (``iter_batches``), each as it comes, as `fmt`
    (default: OUT's suffix); returns the files written. Parquet, Arrow and CSV hold one type
    per file: OUT itself when the capture holds one type, else OUT's stem + .Type + suffix.
    Instruments are named by `cache`, or else by the discovery frames met so far."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    check_prices(prices)
    if fmt == "npz":
        results = list(batches)
        # as the one-type formats, no file for chunks of bad stretches alone
        if not any(map(len, results)):
            return []
        return [_write_npz(type(results[0]).concat(results), out)]
    if fmt == "jsonl":
        return [_write_jsonl(batches, out)]
    discoveries = None
    if cache is None and not raw:
        from ..schemas.cache import ObjectCache

        discoveries = _Discoveries(ObjectCache())  # fed chunk by chunk below
        cache = discoveries.cache
    writers: dict[int, _TableWriter] = {}
    try:
        for result in batches:
            if discoveries is not None:
                discoveries.learn(result)
            for message_type in result.types:
                if message_type not in writers:
                    path = out.with_name(f"{out.stem}.{result.type_name(message_type)}{out.suffix}")
                    writers[message_type] = _TableWriter(path, fmt, raw)
                writers[message_type].write(result, message_type, prices, internals, cache)
    finally:
        for writer in writers.values():
            writer.close()
    paths = [writer.path for writer in writers.values()]
    if len(paths) == 1:
        os.replace(paths[0], out)
        return [out]
    return paths


class _Discoveries:
    """An ObjectCache fed with the discovery frames of the chunks as they pass."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def learn(self, result: BatchResult) -> None:
        for message_type in (MessageType.InstrumentDiscovered, MessageType.PoolDiscovered):
            if message_type in result:
                for row in range(len(result[message_type])):
                    try:
                        self.cache.process_message(result.message(message_type, row))
                    except ParseError:  # metadata the cache cannot read: the frame names nothing
                        continue


class _TableWriter:
    """One type's file, written a chunk at a time."""

    def __init__(self, path: Path, fmt: str, raw: bool) -> None:
        self.path, self.fmt, self.raw = path, fmt, raw
        self.writer: Any = None
        self.stream: Any = None

    def write(self, result: BatchResult, message_type: int, prices: str, internals: bool,
              cache: Any) -> None:
        if self.fmt == "csv" and self.raw:
            self._write_raw_csv(result, message_type)
            return
        table = to_arrow(result, message_type, raw=self.raw, prices=prices,
                         internals=internals, cache=cache)
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table)
        elif self.fmt == "arrow":
            import pyarrow as pa

            table = _plain(table)  # an Arrow file holds one dictionary per column
            if self.writer is None:
                self.writer = pa.ipc.new_file(self.path, table.schema)
            self.writer.write_table(table)
        else:
            import pyarrow.csv as pacsv

            table = _as_text(table)
            if self.writer is None:
                self.writer = pacsv.CSVWriter(self.path, table.schema)
            self.writer.write_table(table)

    def _write_raw_csv(self, result: BatchResult, message_type: int) -> None:
        data = columns(result, message_type, binary="hex")
        if self.stream is None:
            self.stream = open(self.path, "w", newline="")
            csv.writer(self.stream).writerow(data)
        lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in data.values()]
        csv.writer(self.stream).writerows(zip(*lists))

    def close(self) -> None:
        for open_file in (self.writer, self.stream):
            if open_file is not None:
                open_file.close()


def _plain(table: Any) -> Any:
    """The table with its dictionary columns as their values."""
    import pyarrow as pa

    fields = [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))


def _as_text(table: Any) -> Any:
    """The table as CSV writes it: bytes as "0x" + hex, book levels as "price@size ..."."""
    import pyarrow as pa

    table = _plain(table)
    for index, f in enumerate(table.schema):
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) \
                or pa.types.is_fixed_size_binary(f.type):
            table = table.set_column(index, f.name, _hex(table.column(index)))
        elif pa.types.is_large_list(f.type):
            table = table.set_column(index, f.name, _levels_text(table.column(index)))
    return table


_HEX_DIGITS = np.frombuffer(b"".join(f"{b:02x}".encode() for b in range(256)),
                            dtype=np.uint8).reshape(256, 2)


def _hex(column: Any) -> Any:
    """"0x" + lowercase hex of each value, from the data buffer at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_binary(values.type):
        width = values.type.byte_width
        data = np.frombuffer(values.buffers()[1], dtype=np.uint8, count=len(values) * width,
                             offset=values.offset * width)
        offsets = np.arange(len(values) + 1, dtype=np.int64) * width
    else:
        values = values.cast(pa.large_binary())
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64, count=len(values) + 1,
                                offset=values.offset * 8)
        data = np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)[offsets[0]:offsets[-1]]
        offsets = offsets - offsets[0]
    digits = _HEX_DIGITS[data].reshape(-1)
    text = pa.Array.from_buffers(pa.large_string(), len(values),
                                 [None, pa.py_buffer(offsets * 2), pa.py_buffer(digits)])
    return pc.binary_join_element_wise(pa.scalar("0x", pa.large_string()), text,
                                       pa.scalar("", pa.large_string()))


def _levels_text(column: Any) -> Any:
    """Book levels as "price@size price@size ..." text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    levels = column.combine_chunks()
    items = levels.values
    pairs = pc.binary_join_element_wise(items.field("price").cast(pa.string()),
                                        items.field("size").cast(pa.string()), "@")
    return pc.binary_join(pa.LargeListArray.from_arrays(levels.offsets, pairs), " ")


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


def _write_jsonl(batches: Iterable[BatchResult], path: Path) -> Path:
    with open(path, "w") as stream:
        for result in batches:
            order = sorted((int(offset), message_type, row) for message_type in result.types
                           for row, offset in enumerate(result.offsets(message_type)))
            for _, message_type, row in order:
                stream.write(json.dumps(to_json(result.message(message_type, row)),
                                        separators=(",", ":")) + "\n")
    return path
