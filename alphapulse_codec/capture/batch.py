"""Batch decode of captured frames into numpy arrays, one per message type.

``decode_batch(source)`` verifies every frame and copies each one's header and fixed body
straight into a row of ``dtype(message_type)``; bytes after the fixed body (TLVs, variable
tails) are kept whole, per row. Bad stretches are reported and skipped: the decoder
resynchronises on the next frame whose checks pass (its checksum included, when verifying).
``iter_batches(path)`` does the same chunk by chunk, in bounded memory.
``release_buffers()`` hands back to the system the row buffers kept for the next decode.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..wire._codec import (STATUS_KINDS, BatchDecoder, Message, _seal_frames, cached_buffer_bytes,
                           decode, parse_tlvs, release_buffers)
from ..wire.dtypes import row_value
from ..wire.enums import MessageType
from ..wire.errors import SchemaError
from ..wire.layouts import MESSAGES
from ..schemas.registry import Registry, dtype, on_one_line
from ..schemas.registry import default as default_registry
from ..wire.tlv import TLV
from . import export

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# a message type as BatchResult takes it: a MessageType, its number, or a type's name
TypeKey = int | str
# the export formats that hold several types in one file; the others hold one type's table
SEVERAL_TYPES_FORMATS = ("npz", "jsonl")

DEFAULT_CHUNK_BYTES = 64 << 20
# what one decode learns from its input at most: announcements come from whoever wrote the
# capture, and each one costs a schema, a class and its C rules
DEFAULT_MAX_ANNOUNCEMENTS = 1024
DEFAULT_MAX_SCHEMA_BYTES = 1 << 20
MIN_CHUNK_BYTES = 4096


class BadStretch(NamedTuple):
    """Bytes that held no good frame: where they start, how many, and why the first failed."""

    offset: int
    length: int
    kind: str


class BatchResult:
    """The frames of one decode: ``result[MessageType.Trade]`` (or ``result["Trade"]``, or
    ``result[1]``) is the structured array of the Trade frames, in input order;
    ``result.offsets(t)`` their byte offsets in the source. A type the registry knows but the
    input did not hold gives an empty array of its dtype; a name or number it does not know
    raises KeyError. Iterating gives ``(type, rows)`` for each type present, in numeric order;
    ``len(result)`` is the number of frames.

    Frames of several versions of one type (run-time schemas) are read as the newest version
    present: fields an earlier version lacks hold their schema defaults. ``result[t, v]``
    gives the rows that the schema of version v read, in its own dtype.
    """

    def __init__(self, parts: dict[tuple[int, int], tuple[Any, Any, Any, Any]], stretches: Any,
                 registry: Registry | None = None,
                 refused_schemas: list[RefusedSchema] | None = None) -> None:
        self.registry = registry or default_registry  # the one that read the rows
        # announcements whose schema was not registered (malformed, a conflict, over a limit)
        self.refused_schemas: list[RefusedSchema] = refused_schemas or []
        self._groups: dict[tuple[int, int], _Group] = {}
        for (number, version), (rows, offsets, tails, tail_index) in sorted(parts.items()):
            index = np.frombuffer(tail_index, dtype="<i8").reshape(-1, 3)  # row, start, length
            self._groups[number, version] = _Group(
                np.frombuffer(rows, dtype=self.registry.dtype(number, version)),
                offsets, memoryview(tails), index)
        self._merged: dict[int, _Merged] = {}
        raw = np.frombuffer(stretches, dtype=[("offset", "<i8"), ("length", "<i8"), ("kind", "<i8")])
        self.errors: list[BadStretch] = [
            BadStretch(int(s["offset"]), int(s["length"]), STATUS_KINDS[int(s["kind"])]) for s in raw]

    @property
    def types(self) -> list[int]:
        """The message types present, in numeric order (MessageType members where they are)."""
        return [_type_value(t) for t in sorted({t for t, _ in self._groups})]

    def versions(self, message_type: TypeKey) -> list[int]:
        """The schema versions that read this type's frames."""
        number = self.type_number(message_type)
        return [v for t, v in self._groups if t == number]

    def type_name(self, message_type: TypeKey) -> str:
        return self.registry.type_name(self.type_number(message_type))

    def type_number(self, key: TypeKey) -> int:
        """The number of the message type `key` names: a MessageType, a number, or a name
        (as MessageType or the schema spells it, or in any case where that is unambiguous);
        KeyError, naming the known types, for one the registry does not know."""
        if isinstance(key, str):
            return self._number_of_name(key)
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise KeyError(f"a message type is a MessageType, a number or a name, got"
                           f" {type(key).__name__} {key!r}")
        number = int(key)
        if not self.registry.versions(number):
            raise KeyError(f"no message type {number} is known (known: {self._known_names()})")
        return number

    def _number_of_name(self, name: str) -> int:
        known = {schema.name: schema.message_type for schema in self.registry}
        if name in known:
            return known[name]
        folded = [number for known_name, number in known.items()
                  if known_name.casefold() == name.casefold()]
        if len(set(folded)) == 1:
            return folded[0]
        raise KeyError(f"no message type is named {name!r} (known: {self._known_names()})")

    def _known_names(self) -> str:
        return ", ".join(sorted({schema.name for schema in self.registry}))

    def __getitem__(self, key: TypeKey | tuple[TypeKey, int]) -> np.ndarray:
        if isinstance(key, tuple):
            number, version = self.type_number(key[0]), int(key[1])
            group = self._groups.get((number, version))
            if group is not None:
                return group.rows
            if version not in self.registry.versions(number):
                raise KeyError(f"{self.type_name(number)} has no version {version} (known:"
                               f" {', '.join(map(str, self.registry.versions(number)))})")
            return np.empty(0, dtype=self.registry.dtype(number, version))
        return self._type(key).rows

    def __contains__(self, message_type: object) -> bool:
        """Whether frames of the type are present (a key that names no type is not)."""
        if not isinstance(message_type, (int, str, np.integer)):
            return False
        try:
            number = self.type_number(message_type)
        except KeyError:
            return False
        return any(t == number for t, _ in self._groups)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """(type, rows) for each type present, in numeric order."""
        for message_type in self.types:
            yield message_type, self[message_type]

    def __len__(self) -> int:
        return sum(len(group.rows) for group in self._groups.values())

    def offsets(self, message_type: TypeKey) -> np.ndarray:
        """Byte offset in the source of each row's frame."""
        return self._type(message_type).offsets

    def tail(self, message_type: TypeKey, row: int) -> bytes:
        """The bytes after the fixed body of row `row` (TLVs, variable tail, or the fields of a
        later version that its schema does not read), b"" if none."""
        group, local = self._locate(message_type, row)
        at = int(np.searchsorted(group.tail_index[:, 0], local))
        if at == len(group.tail_index) or group.tail_index[at, 0] != local:
            return b""
        start, length = int(group.tail_index[at, 1]), int(group.tail_index[at, 2])
        return bytes(group.tails[start:start + length])

    def tlvs(self, message_type: TypeKey, row: int) -> list[TLV]:
        """The TLV extensions of row `row` of a fixed-body type."""
        if not self.registry.layout(self.type_number(message_type)).carries_tlv:
            raise TypeError(f"{self.type_name(message_type)} carries no TLVs")
        return parse_tlvs(self.tail(message_type, row))

    def frame(self, message_type: TypeKey, row: int) -> bytes:
        """The whole frame of row `row`, as it was in the source."""
        group, local = self._locate(message_type, row)
        return group.rows[local:local + 1].tobytes() + self.tail(message_type, row)

    def message(self, message_type: TypeKey, row: int) -> Message:
        """Row `row` as a message object (for its tail fields and TLVs by name)."""
        return decode(self.frame(message_type, row), verify=False, registry=self.registry)

    @classmethod
    def concat(cls, results: Iterable[BatchResult]) -> BatchResult:
        """One result of several, in order (the chunks of one capture)."""
        results = list(results)
        joined = cls({}, b"", results[0].registry if results else None)
        pieces: dict[tuple[int, int], list[_Group]] = {}
        for result in results:
            joined.errors += result.errors
            joined.refused_schemas += result.refused_schemas
            for key, group in result._groups.items():
                pieces.setdefault(key, []).append(group)
        for key in sorted(pieces):
            groups = pieces[key]
            row_starts = np.cumsum([0] + [len(g.rows) for g in groups[:-1]])
            tail_starts = np.cumsum([0] + [len(g.tails) for g in groups[:-1]])
            joined._groups[key] = _Group(
                np.frombuffer(b"".join(g.rows.tobytes() for g in groups), dtype=groups[0].rows.dtype),
                np.concatenate([g.offsets for g in groups]),
                memoryview(b"".join(bytes(g.tails) for g in groups)),
                np.concatenate([g.tail_index + np.array([rows, tails, 0], dtype="<i8")
                                for g, rows, tails in zip(groups, row_starts, tail_starts)]))
        return joined

    def to_pandas(self, message_type: TypeKey, *, raw: bool = False, prices: str = "float",
                  internals: bool = False, cache: Any = None) -> pd.DataFrame:
        """A pandas DataFrame of one type's frames: readable by default (UTC times, prices as
        floats or with prices="decimal" decimals, names of enum values and instruments, named
        by `cache` where it knows them), wire internals only with `internals`; with `raw`, the
        exact columns (see alphapulse_codec.capture.export)."""
        return export.to_pandas(self, self.type_number(message_type), raw=raw, prices=prices,
                                internals=internals, cache=cache)

    def to_arrow(self, message_type: TypeKey, *, raw: bool = False, prices: str = "float",
                 internals: bool = False, cache: Any = None) -> pa.Table:
        """A pyarrow Table of one type's frames, with the options of to_pandas."""
        return export.to_arrow(self, self.type_number(message_type), raw=raw, prices=prices,
                               internals=internals, cache=cache)

    def write(self, out: str | os.PathLike[str], fmt: str | None = None, *,
              types: Iterable[TypeKey] | None = None, raw: bool = False, prices: str = "float",
              internals: bool = False, cache: Any = None) -> Path:
        """Write one file, OUT, as Parquet, Arrow, CSV, .npz or JSONL (`fmt`, else OUT's
        suffix), with the options of to_pandas; returns its path. `types` chooses the types
        written (all present, when None). Parquet, Arrow and CSV hold one type's table: `types`
        names one, or may be left out when the result holds one type; a type with no frames
        gives an empty table. .npz and JSONL hold every type chosen."""
        fmt = fmt or Path(out).suffix.lstrip(".")
        chosen = None if types is None else list(dict.fromkeys(map(self.type_number, types)))
        if fmt in export.FORMATS and fmt not in SEVERAL_TYPES_FORMATS:
            if chosen is None and len(self.types) != 1:
                present = ", ".join(self.type_name(t) for t in self.types) or "no frames"
                raise ValueError(f"a .{fmt} file holds one message type and this result holds"
                                 f" {present}: pass types=[...] naming one, and write each type"
                                 " to a file of its own")
            if chosen is not None and len(chosen) != 1:
                raise ValueError(f"a .{fmt} file holds one message type, got types="
                                 f"{[self.type_name(t) for t in chosen]}: write each to a file"
                                 " of its own")
        if chosen is not None and not raw:  # the discoveries of every type name the instruments
            cache = export._named_by(self, cache)
        [written] = export.write(self if chosen is None else self._select(chosen), out, fmt,
                                 raw=raw, prices=prices, internals=internals, cache=cache)
        return Path(written)

    def _select(self, numbers: list[int]) -> BatchResult:
        """A result of the types `numbers` alone; those without frames hold an empty group."""
        selected = BatchResult({}, b"", self.registry)
        for number in numbers:
            keys = [key for key in self._groups if key[0] == number]
            for key in keys:
                selected._groups[key] = self._groups[key]
            if not keys:
                version = max(self.registry.versions(number))
                selected._groups[number, version] = _empty_group(self.registry.dtype(number, version))
        return selected

    def _type(self, message_type: TypeKey) -> _Merged:
        """The rows of a type, its versions merged into the newest one's dtype; empty, in
        the dtype of its newest version, for a known type without frames."""
        number = self.type_number(message_type)
        if number not in self._merged:
            keys = [key for key in self._groups if key[0] == number]
            if not keys:
                empty = _empty_group(self.registry.dtype(number))
                return _Merged(empty.rows, empty, None)
            self._merged[number] = _merge(self.registry, [(key, self._groups[key]) for key in keys])
        return self._merged[number]

    def _locate(self, message_type: TypeKey, row: int) -> tuple[_Group, int]:
        merged = self._type(message_type)
        count = len(merged.rows)
        if not -count <= row < count:
            raise IndexError(f"row {row} out of range for {count} {self.type_name(message_type)} rows")
        row %= count
        if merged.sources is None:
            return merged.only, row
        keys, group_of, local = merged.sources
        return self._groups[keys[group_of[row]]], int(local[row])

    def __repr__(self) -> str:
        counts = [f"{self.type_name(t)}={len(self[t])}" for t in self.types]
        return f"BatchResult({', '.join([*counts, f'errors={len(self.errors)}'])})"


class _Group:
    """The rows one schema version read, with their offsets and tails. The offsets are made an
    array when first read: the decoder writes those of runs of fixed-size frames then, and
    a decode whose offsets nobody reads never pays for them."""

    __slots__ = ("rows", "_offsets", "tails", "tail_index")

    def __init__(self, rows: np.ndarray, offsets: Any, tails: memoryview,
                 tail_index: np.ndarray) -> None:
        self.rows = rows
        self._offsets = offsets  # an int64 array, or the decoder's buffer of them
        self.tails = tails
        self.tail_index = tail_index  # row, start in tails, length

    @property
    def offsets(self) -> np.ndarray:
        if not isinstance(self._offsets, np.ndarray):
            self._offsets = np.frombuffer(self._offsets, dtype="<i8")
        return self._offsets


def _empty_group(row_dtype: np.dtype) -> _Group:
    return _Group(np.empty(0, dtype=row_dtype), np.empty(0, dtype="<i8"), memoryview(b""),
                  np.empty((0, 3), dtype="<i8"))


class _Merged(NamedTuple):
    rows: np.ndarray
    only: Any                      # the one group, when the type has one version
    # else, per row: the (type, version) keys, which of them each row is from, its row there
    sources: tuple[list[tuple[int, int]], np.ndarray, np.ndarray] | None
    merged_offsets: np.ndarray | None = None  # of the versions' rows in row order, when several

    @property
    def offsets(self) -> np.ndarray:
        return self.only.offsets if self.merged_offsets is None else self.merged_offsets


def _merge(registry: Registry, groups: list[tuple[tuple[int, int], _Group]]) -> _Merged:
    if len(groups) == 1:
        group = groups[0][1]
        return _Merged(group.rows, group, None)
    newest = max(version for (_, version), _ in groups)
    schema = registry.schema(groups[0][0][0], newest)
    for (_, version), _ in groups:
        if not on_one_line(registry, registry.schema(schema.message_type, version), schema):
            raise ValueError(f"{schema.name} versions {version} and {newest} are not versions of"
                             f" one another: take their rows apart, result[{schema.message_type},"
                             f" {version}] and result[{schema.message_type}, {newest}]")
    target = registry.dtype(schema.message_type, newest)
    parts = []
    for _, group in groups:
        part = np.zeros(len(group.rows), dtype=target)
        for name in target.names:
            if name in group.rows.dtype.names:
                part[name] = group.rows[name]
            elif name in schema.defaults:
                part[name] = row_value(schema.field_index[name], schema.defaults[name])
        parts.append(part)
    offsets = np.concatenate([group.offsets for _, group in groups])
    order = np.argsort(offsets, kind="stable")
    group_of = np.concatenate([np.full(len(group.rows), i) for i, (_, group) in enumerate(groups)])
    local = np.concatenate([np.arange(len(group.rows)) for _, group in groups])
    return _Merged(np.concatenate(parts)[order], None,
                   ([key for key, _ in groups], group_of[order], local[order]), offsets[order])


def _type_value(number: int) -> int:
    try:
        return MessageType(number)
    except ValueError:
        return number


def _wanted(types: Iterable[int | str] | None, registry: Registry) -> list[int] | None:
    if types is None:
        return None
    return [registry.type_of_name(t) if isinstance(t, str) else int(t) for t in types]


class RefusedSchema(str):
    """An announcement that was not learned: reads "at byte N: why"; ``offset`` is N, the
    announcement frame's offset in the source, and ``reason`` the why."""

    offset: int
    reason: str

    def __new__(cls, offset: int, reason: str) -> RefusedSchema:
        refused = super().__new__(cls, f"at byte {offset}: {reason}")
        refused.offset = offset
        refused.reason = reason
        return refused

    def __reduce__(self) -> tuple[Any, ...]:
        return RefusedSchema, (self.offset, self.reason)


class _Learner:
    """Registers the schemas that announcements in the input carry, up to the decode's limits;
    keeps the refusals."""

    def __init__(self, registry: Registry, verify: bool, max_announcements: int,
                 max_schema_bytes: int) -> None:
        self.registry = registry
        self.verify = verify  # as the decoder did: the frames come checked as far as asked
        self.announcements_left = max_announcements
        self.schema_bytes_left = max_schema_bytes
        self.limits = (max_announcements, max_schema_bytes)
        self.refused: list[RefusedSchema] = []

    def __call__(self, frame: bytes, offset: int) -> None:
        reason = self._over_limit(len(frame))
        if reason is None:
            self.announcements_left -= 1
            self.schema_bytes_left -= len(frame)
            reason = self._learn(frame)
        if reason is not None:
            self.refused.append(RefusedSchema(offset, reason))

    def _over_limit(self, size: int) -> str | None:
        if self.announcements_left == 0:
            return (f"over the limit of {self.limits[0]} announcements learned per decode"
                    " (max_announcements)")
        if size > self.schema_bytes_left:
            return (f"its {size} bytes would take the announcements learned in this decode over"
                    f" the limit of {self.limits[1]} bytes (max_schema_bytes)")
        return None

    def _learn(self, frame: bytes) -> str | None:
        try:
            self.registry.learn(frame, self.verify)
        except SchemaError as error:
            return _bounded(str(error))
        except Exception as error:  # whatever one announcement does, the decode goes on
            return _bounded(f"{type(error).__name__} while learning it: {error}")
        return None

    def take(self) -> list[RefusedSchema]:
        refused, self.refused = self.refused, []
        return refused


def _bounded(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check_limit(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an int of at least 0, got {value!r}")


def reading_registry(registry: Registry | None, learn: bool,
                     learn_into: Registry | None) -> Registry:
    """The registry a decode reads by: `registry` (the default when None) when it does not
    learn; else `learn_into`, or an overlay of `registry` that lives as long as the decode."""
    if learn_into is not None and (not learn or registry not in (None, learn_into)):
        raise ValueError("learn_into is the registry that learns and decodes: pass it with"
                         " learn=True and no other registry=")
    reader = registry or default_registry
    return (learn_into or reader.overlay()) if learn else reader


def _decoder(verify: bool, types: Iterable[int | str] | None, max_frame_size: int | None,
             registry: Registry | None, learn: bool, learn_into: Registry | None,
             max_announcements: int, max_schema_bytes: int) -> tuple[BatchDecoder, _Learner]:
    """A batch decoder and the registry it reads by: with `learn`, `learn_into` or else an
    overlay of `registry` that lives for this decode, which the announcements of the input
    register in."""
    _check_limit(max_announcements, "max_announcements")
    _check_limit(max_schema_bytes, "max_schema_bytes")
    reader = reading_registry(registry, learn, learn_into)
    learner = _Learner(reader, verify, max_announcements, max_schema_bytes)
    wanted = _wanted(types, reader)
    if not learn:
        return BatchDecoder(verify, wanted, max_frame_size, reader), learner
    return BatchDecoder(verify, wanted, max_frame_size, reader,
                        MessageType.SchemaAnnouncement, learner), learner


def _feed_file(decoder: BatchDecoder, stream: IO[bytes],
               chunk_bytes: int) -> Iterator[tuple[int, bool]]:
    """Feed a file through one reused buffer, carrying a frame cut by the buffer's end over to
    the next read; yields after each read how far the file is decoded, and whether that is
    its end. The buffer doubles only when a frame the decoder
    waits for fills more than half of it, so memory follows the largest frame the file really
    holds (or claims), never the size limit a caller allows; and every read brings at least
    half a buffer, so headers that claim more than the rest of the buffer, one after another,
    are not carried over and read again a few bytes at a time."""
    buffer = bytearray(chunk_bytes)
    carried = base = 0
    while True:
        view = memoryview(buffer)
        read = stream.readinto(view[carried:]) or 0
        filled = carried + read
        final = read == 0
        consumed = decoder.feed(view[:filled], base, final)
        carried = filled - consumed
        view[:carried] = view[consumed:filled]
        base += consumed
        yield base, final
        if final:
            return
        if 2 * carried > len(buffer):
            grown = bytearray(2 * len(buffer))
            grown[:carried] = buffer[:carried]
            buffer = grown


def _check_chunk(chunk_bytes: int) -> None:
    if not isinstance(chunk_bytes, int) or chunk_bytes < MIN_CHUNK_BYTES:
        raise ValueError(f"chunk_bytes must be an int of at least {MIN_CHUNK_BYTES},"
                         f" got {chunk_bytes!r}")


def decode_batch(source: Any, verify: bool = True, types: Iterable[int | str] | None = None,
                 max_frame_size: int | None = None, registry: Registry | None = None,
                 learn: bool = True, *, learn_into: Registry | None = None,
                 max_announcements: int = DEFAULT_MAX_ANNOUNCEMENTS,
                 max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES) -> BatchResult:
    """Decode every frame of `source` (any buffer, or a path) into arrays per message type.

    `registry` gives the schemas (the default registry when None). With `learn`, the schemas
    announced by SchemaAnnouncement frames are registered as they come, so the frames after
    an announcement decode by its schema: in a registry of this decode's own, an overlay of
    `registry` (``result.registry``), or in `learn_into` when given. At most
    `max_announcements` announcements and `max_schema_bytes` bytes of them are learned; the
    others are refused, listed in ``result.refused_schemas``.
    """
    decoder, learner = _decoder(verify, types, max_frame_size, registry, learn, learn_into,
                                max_announcements, max_schema_bytes)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            for _ in _feed_file(decoder, stream, DEFAULT_CHUNK_BYTES):
                pass
    else:
        decoder.feed(source, 0, True)
    return BatchResult(*decoder.take(), learner.registry, learner.take())


def iter_batches(source: str | os.PathLike[str] | IO[bytes], chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 verify: bool = True, types: Iterable[int | str] | None = None,
                 max_frame_size: int | None = None, registry: Registry | None = None,
                 learn: bool = True, *, learn_into: Registry | None = None,
                 max_announcements: int = DEFAULT_MAX_ANNOUNCEMENTS,
                 max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES) -> Iterator[BatchResult]:
    """Decode a capture of any size chunk by chunk: one BatchResult per chunk, in order, in
    memory bounded by the chunk size. `source` is a path or a binary stream (stdin, a pipe).
    Offsets are from the start of the capture. A bad stretch is reported once, whole, by the
    result of the chunk where it ends, as decode_batch reports it. Learning and its limits are
    those of decode_batch, over the whole capture."""
    _check_chunk(chunk_bytes)
    decoder, learner = _decoder(verify, types, max_frame_size, registry, learn, learn_into,
                                max_announcements, max_schema_bytes)
    unended: BadStretch | None = None
    with _opened(source) as stream:
        for decoded_to, final in _feed_file(decoder, stream, chunk_bytes):
            result = BatchResult(*decoder.take(), learner.registry, learner.take())
            unended = _join_across_chunks(result.errors, unended, decoded_to, final)
            # a read that completed no frame (the end of the input, or the middle of a frame
            # larger than the chunk) has nothing to give
            if len(result) or result.errors or result.refused_schemas:
                yield result


def _join_across_chunks(errors: list[BadStretch], unended: BadStretch | None, decoded_to: int,
                        final: bool) -> BadStretch | None:
    """Put the stretch that ran to the end of the bytes decoded before (`unended`) at the head
    of this chunk's `errors`, joined to the first when that one goes on from it; returns this
    chunk's last stretch, taken out, when it runs to the end of its bytes and more may follow."""
    if unended is not None:
        if errors and errors[0].offset == unended.offset + unended.length:
            errors[0] = BadStretch(unended.offset, unended.length + errors[0].length, unended.kind)
        else:
            errors.insert(0, unended)
    if not final and errors and errors[-1].offset + errors[-1].length == decoded_to:
        return errors.pop()
    return None


@contextmanager
def _opened(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[IO[bytes]]:
    """A path opened for reading, or a stream as it is (left open: it is the caller's)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


def encode_batch(rows: np.ndarray, message_type: int | None = None,
                 tails: Iterable[bytes] | None = None, version: int | None = None,
                 registry: Registry | None = None) -> bytes:
    """Sealed frames, back to back, from a structured array of one type's rows.

    The rows' header fields are kept except magic, message_type, payload_size and checksum,
    which are computed (and version, set to the schema's where it is 0). ``tails`` gives the
    bytes after each fixed body (TLVs, or the variable tail whose counts the row holds);
    without it every frame is its fixed part alone.
    """
    if not isinstance(rows, np.ndarray) or rows.dtype.names is None:
        raise TypeError(f"rows are a structured numpy array of one type's dtype (ap.dtype(t)),"
                        f" got {type(rows).__name__}"
                        + (f" of dtype {rows.dtype}" if isinstance(rows, np.ndarray) else ""))
    registry = registry or default_registry
    message_type = int(message_type if message_type is not None else _type_of_rows(rows))
    schema = registry.schema(message_type, version)
    expected = registry.dtype(message_type, schema.version)
    if rows.dtype != expected:
        raise TypeError(f"rows have dtype {rows.dtype}, expected the dtype of {schema.name}"
                        f" version {schema.version}")
    rows = np.ascontiguousarray(rows)
    row_size = expected.itemsize
    if tails is None:
        buffer = bytearray(rows.tobytes())
        offsets = np.arange(len(rows) + 1, dtype="<i8") * row_size
    else:
        tail_list = [bytes(t) for t in tails]
        if len(tail_list) != len(rows):
            raise ValueError(f"{len(tail_list)} tails for {len(rows)} rows")
        sizes = np.fromiter((row_size + len(t) for t in tail_list), dtype="<i8", count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype("<i8")
        raw = rows.view(np.uint8).reshape(len(rows), row_size)
        buffer = bytearray(b"".join(raw[i].tobytes() + tail_list[i] for i in range(len(rows))))
    _seal_frames(buffer, offsets, message_type, schema.version, registry)
    return bytes(buffer)


def _type_of_rows(rows: np.ndarray) -> int:
    candidates = [t for t in MESSAGES if rows.dtype == dtype(t)]
    if len(candidates) == 1:
        return candidates[0]
    in_rows = np.unique(rows["header"]["message_type"]) if candidates else []
    if len(in_rows) == 1 and int(in_rows[0]) in candidates:
        return int(in_rows[0])
    names = " or ".join(MessageType(t).name for t in candidates) or "no message type"
    raise TypeError(f"rows of dtype {rows.dtype} fit {names}: pass message_type")
