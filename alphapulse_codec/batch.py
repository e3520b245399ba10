"""Batch decode of captured frames into numpy arrays, one per message type.

``decode_batch(source)`` verifies every frame and copies each one's header and fixed body
straight into a row of ``dtype(message_type)``; bytes after the fixed body (TLVs, variable
tails) are kept whole, per row. Bad stretches are reported and skipped: the decoder
resynchronises on the next frame whose checks pass (its checksum included, when verifying).
``iter_batches(path)`` does the same chunk by chunk, in bounded memory.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

import numpy as np

from ._codec import STATUS_KINDS, BatchDecoder, decode, parse_tlvs, seal_frames
from .dtypes import dtype
from .enums import MessageType
from .layouts import MESSAGES
from .tlv import TLV

DEFAULT_CHUNK_BYTES = 64 << 20


class BadStretch(NamedTuple):
    """Bytes that held no good frame: where they start, how many, and why the first failed."""

    offset: int
    length: int
    kind: str


class BatchResult:
    """The frames of one decode: ``result[MessageType.Trade]`` is the structured array of the
    Trade frames, in input order; ``result.offsets(t)`` their byte offsets in the source."""

    def __init__(self, parts: dict[int, tuple[Any, Any, Any, Any]], stretches: Any) -> None:
        self._rows: dict[MessageType, np.ndarray] = {}
        self._offsets: dict[MessageType, np.ndarray] = {}
        self._tails: dict[MessageType, tuple[memoryview, np.ndarray]] = {}
        for number, (rows, offsets, tails, tail_index) in sorted(parts.items()):
            message_type = MessageType(number)
            self._rows[message_type] = np.frombuffer(rows, dtype=dtype(message_type))
            self._offsets[message_type] = np.frombuffer(offsets, dtype="<i8")
            index = np.frombuffer(tail_index, dtype="<i8").reshape(-1, 3)  # row, start, length
            self._tails[message_type] = (memoryview(tails), index)
        raw = np.frombuffer(stretches, dtype=[("offset", "<i8"), ("length", "<i8"), ("kind", "<i8")])
        self.errors: list[BadStretch] = [
            BadStretch(int(s["offset"]), int(s["length"]), STATUS_KINDS[int(s["kind"])]) for s in raw]

    @property
    def types(self) -> list[MessageType]:
        """The message types present, in numeric order."""
        return list(self._rows)

    def __getitem__(self, message_type: int) -> np.ndarray:
        return self._rows[MessageType(message_type)]

    def __contains__(self, message_type: object) -> bool:
        return message_type in self._rows

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def offsets(self, message_type: int) -> np.ndarray:
        """Byte offset in the source of each row's frame."""
        return self._offsets[MessageType(message_type)]

    def tail(self, message_type: int, row: int) -> bytes:
        """The bytes after the fixed body of row `row` (TLVs or variable tail), b"" if none."""
        tails, index = self._tails[MessageType(message_type)]
        row = self._row_number(message_type, row)
        at = int(np.searchsorted(index[:, 0], row))
        if at == len(index) or index[at, 0] != row:
            return b""
        start, length = int(index[at, 1]), int(index[at, 2])
        return bytes(tails[start:start + length])

    def tlvs(self, message_type: int, row: int) -> list[TLV]:
        """The TLV extensions of row `row` of a fixed-body type."""
        if not MESSAGES[MessageType(message_type)].carries_tlv:
            raise TypeError(f"{MessageType(message_type).name} has a variable tail, not TLVs")
        return parse_tlvs(self.tail(message_type, row))

    def frame(self, message_type: int, row: int) -> bytes:
        """The whole frame of row `row`, as it was in the source."""
        row = self._row_number(message_type, row)
        return self[message_type][row:row + 1].tobytes() + self.tail(message_type, row)

    def message(self, message_type: int, row: int) -> Any:
        """Row `row` as a message object (for its tail fields and TLVs by name)."""
        return decode(self.frame(message_type, row), verify=False)

    @classmethod
    def concat(cls, results: Iterable[BatchResult]) -> BatchResult:
        """One result of several, in order (the chunks of one capture)."""
        parts: dict[MessageType, list[tuple[np.ndarray, np.ndarray, memoryview, np.ndarray]]] = {}
        joined = cls({}, b"")
        for result in results:
            joined.errors += result.errors
            for message_type in result.types:
                tails, index = result._tails[message_type]
                parts.setdefault(message_type, []).append(
                    (result[message_type], result.offsets(message_type), tails, index))
        for message_type in sorted(parts):
            pieces = parts[message_type]
            row_starts = np.cumsum([0] + [len(p[0]) for p in pieces[:-1]])
            tail_starts = np.cumsum([0] + [len(p[2]) for p in pieces[:-1]])
            joined._rows[message_type] = np.frombuffer(
                b"".join(p[0].tobytes() for p in pieces), dtype=dtype(message_type))
            joined._offsets[message_type] = np.concatenate([p[1] for p in pieces])
            joined._tails[message_type] = (
                memoryview(b"".join(bytes(p[2]) for p in pieces)),
                np.concatenate([p[3] + np.array([rows, tails, 0], dtype="<i8")
                                for p, rows, tails in zip(pieces, row_starts, tail_starts)]))
        return joined

    def to_pandas(self, message_type: int) -> Any:
        """A pandas DataFrame of one type's frames (see alphapulse_codec.export)."""
        from .export import to_pandas

        return to_pandas(self, message_type)

    def to_arrow(self, message_type: int) -> Any:
        """A pyarrow Table of one type's frames (see alphapulse_codec.export)."""
        from .export import to_arrow

        return to_arrow(self, message_type)

    def write(self, out: str | os.PathLike[str], fmt: str | None = None) -> list[Any]:
        """Write as Parquet, Arrow, CSV, .npz or JSONL (by OUT's suffix); the files written."""
        from .export import write

        return write(self, out, fmt)

    def _row_number(self, message_type: int, row: int) -> int:
        count = len(self[message_type])
        if not -count <= row < count:
            raise IndexError(f"row {row} out of range for {count} {MessageType(message_type).name} rows")
        return row % count

    def __repr__(self) -> str:
        counts = ", ".join(f"{t.name}={len(rows)}" for t, rows in self._rows.items())
        return f"BatchResult({counts}, errors={len(self.errors)})"


def _wanted(types: Iterable[int | str] | None) -> list[int] | None:
    if types is None:
        return None
    return [MessageType[t] if isinstance(t, str) else MessageType(t) for t in types]


def _feed_file(decoder: BatchDecoder, stream: IO[bytes], chunk_bytes: int) -> Iterator[None]:
    """Feed a file through one reused buffer, carrying a frame cut by a chunk's end over to the
    next chunk; yields after each chunk."""
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    carried = base = 0
    while True:
        read = stream.readinto(view[carried:]) or 0
        filled = carried + read
        final = read == 0
        consumed = decoder.feed(view[:filled], base, final)
        carried = filled - consumed
        view[:carried] = view[consumed:filled]
        base += consumed
        yield None
        if final:
            return


def _check_chunk(chunk_bytes: int, max_frame_size: int | None) -> None:
    limit = max_frame_size or 1 << 20
    if chunk_bytes <= limit:
        raise ValueError(f"chunk_bytes ({chunk_bytes}) must exceed the maximum frame size ({limit})")


def decode_batch(source: Any, verify: bool = True, types: Iterable[int | str] | None = None,
                 max_frame_size: int | None = None) -> BatchResult:
    """Decode every frame of `source` (any buffer, or a path) into arrays per message type."""
    decoder = BatchDecoder(verify, _wanted(types), max_frame_size)
    if isinstance(source, (str, os.PathLike)):
        _check_chunk(DEFAULT_CHUNK_BYTES, max_frame_size)
        with open(source, "rb") as stream:
            for _ in _feed_file(decoder, stream, DEFAULT_CHUNK_BYTES):
                pass
    else:
        decoder.feed(source, 0, True)
    return BatchResult(*decoder.take())


def iter_batches(path: str | os.PathLike[str], chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 verify: bool = True, types: Iterable[int | str] | None = None,
                 max_frame_size: int | None = None) -> Iterator[BatchResult]:
    """Decode a capture of any size chunk by chunk: one BatchResult per chunk, in order, in
    memory bounded by the chunk size. Offsets are from the start of the file."""
    _check_chunk(chunk_bytes, max_frame_size)
    decoder = BatchDecoder(verify, _wanted(types), max_frame_size)
    with open(path, "rb") as stream:
        for _ in _feed_file(decoder, stream, chunk_bytes):
            yield BatchResult(*decoder.take())


def encode_batch(rows: np.ndarray, message_type: int | None = None,
                 tails: Iterable[bytes] | None = None) -> bytes:
    """Sealed frames, back to back, from a structured array of one type's rows.

    The rows' header fields are kept except magic, message_type, payload_size and checksum,
    which are computed (and version, set to 1 where it is 0). ``tails`` gives the bytes after
    each fixed body (TLVs, or the variable tail whose counts the row holds); without it every
    frame is its fixed part alone.
    """
    message_type = MessageType(message_type if message_type is not None
                               else _type_of_rows(rows))
    expected = dtype(message_type)
    if rows.dtype != expected:
        raise TypeError(f"rows have dtype {rows.dtype}, expected dtype({message_type.name})")
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
    seal_frames(buffer, offsets, message_type)
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
