"""What the network transports need to know of a buffer of frames, worked out over the whole
buffer at once (the C batch decoder, then numpy) rather than frame by frame in Python: where
each frame starts and ends, its type, source and sequence; the frames a subscription keeps;
batches cut at frame boundaries; sequence jumps per source.

A producer's buffer is cut into messages by `pieces`, in C calls per buffer and per message
rather than per frame: the batch decoder checks every frame (structure, layout, checksum)
and tells whether the buffer holds one type, keeping no rows when it does; the channel's
walker (`select`) finds where each message ends. Only a buffer of several types, or one with
a schema announcement, takes the path through a full decode and numpy."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..capture.batch import BatchResult, decode_batch
from ..wire._codec import BatchDecoder
from ..wire.enums import MessageType, SourceType
from ..wire.errors import FieldValueError, ParseError

from ._channel import select

HEADER_SIZE = 32
EVERY = b"\xff" * 32  # a mask of all 256 types (or sources), a bit each


class FrameIndex(NamedTuple):
    """The frames of a buffer in input order: byte offset, size, type, source, sequence."""

    offsets: np.ndarray
    sizes: np.ndarray
    types: np.ndarray
    sources: np.ndarray
    sequences: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.offsets)


def index(result: BatchResult) -> FrameIndex:
    """The frames a decode found, in the order they had in its input."""
    parts = []
    for message_type in result.types:
        header = result[message_type]["header"]
        parts.append((result.offsets(message_type), HEADER_SIZE + header["payload_size"],
                      header["message_type"], header["source"], header["sequence"]))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return FrameIndex(empty, empty, empty, empty, empty)
    columns = [np.concatenate([part[i] for part in parts]).astype(np.int64) for i in range(5)]
    if len(parts) > 1:
        order = np.argsort(columns[0], kind="stable")
        columns = [column[order] for column in columns]
    return FrameIndex(*columns)


def single_frame_size(data: bytes) -> int:
    """The size of a buffer holding one frame as its header tells it (header and payload;
    -1 when the buffer is shorter than a header)."""
    if len(data) < HEADER_SIZE:
        return -1
    return HEADER_SIZE + int.from_bytes(data[8:12], "little")


def checked_index(buffer: bytes | bytearray | memoryview, verify: bool = True) -> FrameIndex:
    """The index of a buffer that must hold whole, valid frames back to back and nothing else:
    a ParseError names the first bad byte offset otherwise."""
    result = decode_batch(buffer, verify)
    if result.errors:
        bad = result.errors[0]
        raise ParseError(f"frames: {bad.kind} at byte offset {bad.offset} ({bad.length} bytes"
                         f" hold no valid frame); nothing was sent", offset=bad.offset)
    found = index(result)
    if found.frames and int(found.offsets[-1] + found.sizes[-1]) != len(buffer):
        end = int(found.offsets[-1] + found.sizes[-1])
        raise ParseError(f"frames: {len(buffer) - end} bytes after the last frame at byte offset"
                         f" {end}; nothing was sent", offset=end)
    return found


class _Announced:
    """Tells whether the decoder met a schema announcement: frames after one may be of a type
    it opens, which only the learning decode (decode_batch) reads."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, frame: bytes, offset: int) -> None:
        self.seen = True


Piece = tuple[int, int, int, int]  # message type (0 when not cut by type), start, end, frames


class Cutter:
    """Cuts a producer's buffers into the messages it sends (`pieces`). It keeps a batch
    decoder per type a buffer starts with, reused from buffer to buffer, that keeps the rows
    of every other type: none are kept when the buffer holds that type alone, which is how
    one pass tells it. Used by one thread at a time, as a producer is."""

    def __init__(self, verify: bool, by_type: bool, batch_frames: int, batch_bytes: int
                 ) -> None:
        self.verify, self.by_type = verify, by_type
        self.batch_frames, self.batch_bytes = batch_frames, batch_bytes
        self._checkers: dict[int, tuple[BatchDecoder, _Announced]] = {}

    def _checker(self, first_type: int) -> tuple[BatchDecoder, _Announced]:
        checker = self._checkers.get(first_type)
        if checker is None:
            others = [t for t in range(256) if t != first_type] if self.by_type else []
            announced = _Announced()
            checker = self._checkers[first_type] = (BatchDecoder(
                self.verify, others, None, None, MessageType.SchemaAnnouncement, announced),
                announced)
        return checker

    def _one_type_count(self, buffer: Any, first_type: int) -> int | None:
        """How many frames `buffer` holds when every byte of it is a good frame of a type the
        default registry reads, all of `first_type` when cut by type; None when not, or when
        it holds a schema announcement: decode_batch then says why, or learns."""
        decoder, announced = self._checker(first_type)
        announced.seen = False
        consumed = decoder.feed(buffer, 0, True)
        frames = decoder.frames
        others, stretches = decoder.take()
        if others or announced.seen or memoryview(stretches).nbytes or consumed != len(buffer):
            return None
        return int(frames)

    def pieces(self, buffer: bytes | bytearray | memoryview) -> list[Piece]:
        """The messages for `buffer` (whole, valid frames back to back, else a ParseError
        naming the first bad byte offset): runs of one type when cut by type, each cut into
        messages of at most `batch_frames` frames and `batch_bytes` bytes (a frame larger
        goes alone), in input order."""
        if not isinstance(buffer, (bytes, bytearray)):
            buffer = memoryview(buffer).cast("B")
        length = len(buffer)
        if length == 0:
            return []
        message_type = buffer[4] if self.by_type and length > 4 else 0
        count = self._one_type_count(buffer, message_type)
        if count is None:  # several types, or bad bytes: numpy over a full decode
            return _indexed_pieces(checked_index(buffer, self.verify), self.by_type,
                                   self.batch_frames, self.batch_bytes)
        if count <= self.batch_frames and length <= self.batch_bytes:
            return [(message_type, 0, length, count)]
        cut: list[Piece] = []
        start = 0
        while start < length:
            frame_bytes = HEADER_SIZE + int.from_bytes(buffer[start + 8:start + 12], "little")
            wanted = min(self.batch_frames, max(1, self.batch_bytes // frame_bytes))
            while True:  # frames of several sizes: fewer until they fit
                end, scanned, _, _ = select(buffer, start, wanted, EVERY, EVERY)
                if end - start <= self.batch_bytes or wanted == 1:
                    break
                wanted //= 2
            cut.append((message_type, start, end, scanned))
            start = end
        return cut


def _indexed_pieces(found: FrameIndex, by_type: bool, batch_frames: int,
                    batch_bytes: int) -> list[Piece]:
    cut: list[Piece] = []
    runs = type_runs(found.types) if by_type else iter([(0, found.frames)])
    for first, stop in runs:
        message_type = int(found.types[first]) if by_type else 0
        for i, j in chunks(found, first, stop, batch_frames, batch_bytes):
            end = int(found.offsets[j - 1] + found.sizes[j - 1])
            cut.append((message_type, int(found.offsets[i]), end, j - i))
    return cut


def gather(buffer: Any, offsets: np.ndarray, sizes: np.ndarray) -> bytes:
    """The frames at `offsets` (of `sizes` bytes) copied back to back."""
    if not len(offsets):
        return b""
    data = np.frombuffer(buffer, dtype=np.uint8)
    if len(offsets) == 1:
        single: bytes = data[offsets[0]:offsets[0] + sizes[0]].tobytes()
        return single
    # one vectorised gather: each output byte's source position is its frame's offset plus its
    # position within the frame
    starts = np.cumsum(sizes) - sizes
    positions = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(offsets - starts, sizes)
    gathered: bytes = data[positions].tobytes()
    return gathered


def chunks(found: FrameIndex, first: int, stop: int, batch_frames: int,
           batch_bytes: int) -> Iterator[tuple[int, int]]:
    """Frame ranges [i, j) of found[first:stop] holding at most `batch_frames` frames and
    `batch_bytes` bytes each (a frame larger than `batch_bytes` goes alone): no frame is split."""
    ends = found.offsets + found.sizes
    i = first
    while i < stop:
        by_bytes = int(np.searchsorted(ends, found.offsets[i] + batch_bytes, side="right"))
        j = min(stop, i + batch_frames, max(by_bytes, i + 1))
        yield i, j
        i = j


def type_runs(types: np.ndarray) -> Iterator[tuple[int, int]]:
    """Ranges [i, j) of consecutive frames of one type: a mixed buffer goes out run by run,
    which keeps the order of every source's frames for a consumer of all types."""
    if not len(types):
        return
    cuts = np.flatnonzero(types[1:] != types[:-1]) + 1
    bounds = np.concatenate(([0], cuts, [len(types)]))
    for i, j in zip(bounds[:-1], bounds[1:]):
        yield int(i), int(j)


def numbers(name: str, values: Iterable[int | str] | int | str | None,
            enum: Any) -> frozenset[int] | None:
    """A subscription's set of numbers (names, enum members or ints; None: all)."""
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    found = set()
    for value in values:
        if isinstance(value, str):
            try:
                value = enum[value]
            except KeyError:
                raise FieldValueError(f"{name}: unknown name {value!r}", field=name) from None
        number = int(value)
        if not 0 <= number <= 255:
            raise FieldValueError(f"{name}: {number}, expected 0-255", field=name)
        found.add(number)
    return frozenset(found)


def type_numbers(types: Any) -> frozenset[int] | None:
    return numbers("types", types, MessageType)


def source_numbers(sources: Any) -> frozenset[int] | None:
    return numbers("sources", sources, SourceType)


def type_name(number: int) -> str:
    """The subject token of a message type: its MessageType name, else its number."""
    try:
        return MessageType(number).name
    except ValueError:
        return str(number)


class SequenceTracker:
    """The next expected sequence per source; `observe` returns the jumps in a batch as
    (source, first missing, last missing) and moves on. A sequence at or below one already
    seen (a replay, a restarted producer) does not count as a loss."""

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        # np.unique imports numpy.ma on its first call (25 ms here idle, 150 ms loaded): taken
        # now, as the consumer is made, not by its first batch with every frame behind it queued
        np.unique(np.zeros(1, dtype=np.int64))

    def observe(self, sources: np.ndarray, sequences: np.ndarray) -> list[tuple[int, int, int]]:
        jumps: list[tuple[int, int, int]] = []
        if not len(sources):
            return jumps
        for source in np.unique(sources):
            sequence = sequences[sources == source]
            source = int(source)
            previous = self.expected.get(source)
            if previous is not None:
                sequence = np.concatenate(([previous - 1], sequence))
            steps = np.diff(sequence)
            for at in np.flatnonzero(steps > 1):
                jumps.append((source, int(sequence[at]) + 1, int(sequence[at + 1]) - 1))
            self.expected[source] = max(int(sequence.max()) + 1, previous or 0)
        return jumps

    def observe_one(self, source: int, sequence: int) -> tuple[int, int, int] | None:
        """`observe` of a single frame."""
        previous = self.expected.get(source)
        self.expected[source] = max(sequence + 1, previous or 0)
        if previous is not None and sequence > previous:
            return source, previous, sequence - 1
        return None
