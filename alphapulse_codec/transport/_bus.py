"""The part of a message-bus producer and consumer that does not depend on the bus: frames
batched by type into messages of at most `batch_frames` frames and `batch_bytes` bytes (a
frame is never split), and on receipt the frames checked, filtered by source and counted
against each source's sequence, all over whole batches."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..capture.batch import BatchResult, decode_batch
from ..relay import sendable
from ..relay.client import Gap
from ..wire._codec import Message, decode
from ..wire.enums import GapReason
from ..wire.errors import FieldValueError, ParseError, RelayClosedError, RelayTimeoutError
from . import _frames

DEFAULT_BATCH_FRAMES = 4096
DEFAULT_BATCH_BYTES = 256 << 10
MAX_GAPS = 1024  # gap reports kept, the newest


def positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FieldValueError(f"{name}: {value!r}, expected an integer >= 1", field=name)
    return value


class BatchingProducer:
    """Sends a buffer of frames at once, run by run of one type (when `by_type`: a bus whose
    subjects name the type), in messages of at most `batch_frames` frames and `batch_bytes`
    bytes (DEFAULT_BATCH_FRAMES and DEFAULT_BATCH_BYTES when None). A single send is a message
    of its own, sent at once, as a relay producer writes it; when a batch size is given,
    single frames are gathered per type until a batch is full, `flush` or `close` instead (no
    timer sends a partial batch: code written for the relays, which never calls flush, must
    not wait on a bus for one). Subclasses define `_publish(type, data, frames)` (one message
    of whole frames) and `_flush_bus()`."""

    by_type = True

    def __init__(self, batch_frames: int | None, batch_bytes: int | None, verify: bool) -> None:
        self.gather = batch_frames is not None or batch_bytes is not None
        self.batch_frames = positive("batch_frames", DEFAULT_BATCH_FRAMES if batch_frames is None
                                     else batch_frames)
        self.batch_bytes = positive("batch_bytes", DEFAULT_BATCH_BYTES if batch_bytes is None
                                    else batch_bytes)
        self.verify = verify
        self._cutter = _frames.Cutter(verify, self.by_type, self.batch_frames, self.batch_bytes)
        self._pending: dict[int, tuple[bytearray, list[int]]] = {}  # type -> bytes, [frames]
        self.closed = False
        self.frames_sent = 0

    def _publish(self, message_type: int, data: bytes | memoryview, frames: int) -> None:
        raise NotImplementedError

    def _flush_bus(self) -> None:
        raise NotImplementedError

    def _check_open(self, what: str) -> None:
        if self.closed:
            raise RelayClosedError(f"{what} on a closed producer")

    def send(self, message: Message | bytes | bytearray | memoryview) -> None:
        """Sends one message, or the one sealed frame given as bytes (checked first); when
        gathering, it leaves when its type's batch is full, or on flush."""
        self._check_open("send")
        frame = sendable.one_frame(message)
        if not isinstance(message, Message):
            decode(frame, self.verify)  # one whole valid frame, or a ParseError saying why
        message_type = frame[4] if self.by_type else 0
        if not self.gather:
            self._publish(message_type, bytes(frame), 1)
            self.frames_sent += 1
            return
        data, count = self._pending.setdefault(message_type, (bytearray(), [0]))
        if data and len(data) + len(frame) > self.batch_bytes:
            self._send_pending(message_type)
            data, count = self._pending.setdefault(message_type, (bytearray(), [0]))
        data += frame
        count[0] += 1
        if count[0] >= self.batch_frames or len(data) >= self.batch_bytes:
            self._send_pending(message_type)

    def _send_pending(self, message_type: int) -> None:
        data, count = self._pending.pop(message_type)
        self._publish(message_type, bytes(data), count[0])
        self.frames_sent += count[0]

    def send_batch(self, buffer: bytes | bytearray | memoryview) -> int:
        """Sends every frame of `buffer` (sealed frames back to back, e.g. from encode_batch):
        all of them, or none when one is malformed (a ParseError gives its byte offset).
        Returns the number of frames."""
        self._check_open("send_batch")
        buffer = sendable.frames_buffer(buffer)
        cut = self._cutter.pieces(buffer)
        view = buffer if isinstance(buffer, bytes) else memoryview(buffer).cast("B")
        frames = 0
        for message_type, start, end, count in cut:
            if message_type in self._pending:  # earlier single frames of the type go first
                self._send_pending(message_type)
            # bytes are immutable: a message of all of them is sent without a copy
            whole = isinstance(view, bytes) and start == 0 and end == len(view)
            data = view if whole else view[start:end]
            self._publish(message_type, data, count)
            frames += count
        self.frames_sent += frames
        return frames

    def flush(self) -> list[Message]:
        """Sends every queued frame and waits until the bus has them. Returns the error
        reports answered, as a relay producer's flush does: none, a bus does not answer with
        ErrorReports (its refusals raise BusError)."""
        self._check_open("flush")
        for message_type in list(self._pending):
            self._send_pending(message_type)
        self._flush_bus()
        return []

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class FilteringConsumer:
    """Frames arrive as payloads of whole frames; `recv*` check them (decode_batch, verifying
    checksums when `verify`), keep those of the subscribed sources, and report sequence jumps
    per source (for consumers of every type: a type filter leaves holes that are no loss).
    Subclasses define `_fetch(timeout)` -> list of payloads (empty on timeout)."""

    def __init__(self, types: Any, sources: Any, verify: bool, track_sequences: bool) -> None:
        self.types = _frames.type_numbers(types)
        self.sources = _frames.source_numbers(sources)
        self.verify = verify
        self._sequences = _frames.SequenceTracker() if track_sequences else None
        self._gaps: list[Gap] = []
        self.frames_lost = 0
        self.errors: list[Any] = []  # bad stretches in what arrived (BadStretch), the newest
        # what arrived, checked, not yet read: its bytes, its frames (None: the bytes are one
        # frame) and their decode, when one was made of exactly these bytes
        self._ready: tuple[bytes, _frames.FrameIndex | None, BatchResult | None] | None = None
        self._ready_first = 0
        self.closed = False

    def _fetch(self, timeout: float | None) -> list[bytes]:
        raise NotImplementedError

    def _report(self, gap: Gap) -> None:
        self._gaps.append(gap)
        if gap.frames_lost:
            self.frames_lost += gap.frames_lost
        del self._gaps[:-MAX_GAPS]

    @property
    def gaps(self) -> list[Gap]:
        """The gap reports (the newest 1,024), oldest first."""
        return list(self._gaps)

    def _fill(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            payloads = self._fetch(left)
            if payloads:
                data = payloads[0] if len(payloads) == 1 else b"".join(payloads)
                if self._accept(data):
                    return True
            elif deadline is not None and time.monotonic() >= deadline:
                return False
            if self.closed:
                return False

    def _accept(self, data: bytes) -> bool:
        if len(data) == _frames.single_frame_size(data):
            return self._accept_one(data)
        return self._accept_many(data)

    def _accept_one(self, frame: bytes) -> bool:
        """A payload of one frame, a single `send`'s message: checked by the frame decoder and
        kept or not by its header. The batch path's fixed cost (a BatchResult, numpy columns)
        is some 100 us a message, which at 10,000 single frames a second is a core, and its
        queue is what a frame's latency would then be made of."""
        try:
            header = decode(frame, self.verify).header
        except ParseError:  # the batch path tells what is wrong, as for any payload
            return self._accept_many(frame)
        if (self.types is not None and header.message_type not in self.types) or \
                (self.sources is not None and header.source not in self.sources):
            return False
        if self._sequences is not None:
            jump = self._sequences.observe_one(header.source, header.sequence)
            if jump is not None:
                source, first, last = jump
                self._report(Gap(source, GapReason.SequenceJump, first, last,
                                 last - first + 1, False))
        self._ready, self._ready_first = (frame, None, None), 0
        return True

    def _accept_many(self, data: bytes) -> bool:
        result = decode_batch(data, self.verify)
        self.errors.extend(result.errors)
        del self.errors[:-MAX_GAPS]
        found = _frames.index(result)
        keep = None
        if self.types is not None and found.frames:
            keep = np.isin(found.types, list(self.types))
        if self.sources is not None and found.frames:
            by_source = np.isin(found.sources, list(self.sources))
            keep = by_source if keep is None else keep & by_source
        if self._sequences is not None:
            seen = found if keep is None else _take_rows(found, keep)
            for source, first, last in self._sequences.observe(seen.sources, seen.sequences):
                self._report(Gap(source, GapReason.SequenceJump, first, last,
                                 last - first + 1, False))
        whole = keep is None and not result.errors
        if keep is not None and keep.all() and not result.errors:
            whole = True
        if whole:
            if not found.frames:
                return False
            self._ready, self._ready_first = (data, found, result), 0
            return True
        if keep is not None:
            found = _take_rows(found, keep)
        if not found.frames:
            return False
        packed = _frames.gather(data, found.offsets, found.sizes)
        starts = np.cumsum(found.sizes) - found.sizes
        self._ready = (packed, found._replace(offsets=starts), None)
        self._ready_first = 0
        return True

    def _take(self, max_frames: int, timeout: float | None) -> tuple[bytes, BatchResult | None]:
        positive("max_frames", max_frames)
        if self.closed:
            raise RelayClosedError(f"{self._where()}: receive on a closed consumer")
        if self._ready is None and not self._fill(timeout):
            if self.closed:  # by another thread while this one waited
                raise RelayClosedError(f"{self._where()}: closed while a receive waited")
            return b"", None
        data, found, result = self._ready  # type: ignore[misc]  # _fill set it
        if found is None:
            self._ready = None
            return data, result
        first = self._ready_first
        stop = min(found.frames, first + max_frames)
        if first == 0 and stop == found.frames:
            self._ready = None
            return data, result
        start = int(found.offsets[first])
        end = int(found.offsets[stop - 1] + found.sizes[stop - 1])
        if stop == found.frames:
            self._ready = None
        else:
            self._ready_first = stop
        return data[start:end], None

    def recv(self, timeout: float | None = None) -> Message:
        """The next message; RelayTimeoutError (a TimeoutError, as from a relay's consumer)
        when none came within `timeout` seconds."""
        data, _ = self._take(1, timeout)
        if not data:
            raise RelayTimeoutError(f"{self._where()}: no frame within {timeout} s")
        return decode(data, False)  # checked on arrival

    def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """Up to `max_frames` frames as their wire bytes, back to back (empty when none came
        within `timeout`): checked and filtered, for passing on without decoding."""
        return self._take(max_frames, timeout)[0]

    def recv_batch(self, max_frames: int = 65536, timeout: float | None = None) -> BatchResult:
        """Up to `max_frames` frames decoded by decode_batch (an empty result when none came
        within `timeout`)."""
        data, result = self._take(max_frames, timeout)
        return result if result is not None else decode_batch(data, False)

    def __iter__(self) -> Iterator[Message]:
        while True:  # ends when closed, by another thread while it waits included
            try:
                yield self.recv()
            except RelayClosedError:
                return

    def _where(self) -> str:
        return type(self).__name__

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


def _take_rows(found: _frames.FrameIndex, keep: np.ndarray) -> _frames.FrameIndex:
    return _frames.FrameIndex(*(column[keep] for column in found))
