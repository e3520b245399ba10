"""Captures read one message at a time, in order, in bounded memory.

``iter_messages(source)`` yields the messages of a capture (a path, a binary stream such as
stdin, or a buffer) and a ``BadStretch`` for each run of bytes that holds no good frame,
where it lies in the capture. Recovery is the batch path's (docs/batch.md): after a bad
frame, decoding resumes at the next position where a header begins whose checks pass,
checksum included, so no good frame is lost and garbage never becomes frames; ``decode_batch``
of the same bytes reports the same stretches. The search is the batch decoder's own, in the
compiled core (``Resync``): a candidate header costs O(1) amortised whatever size it claims,
so a damaged stretch streams at the batch path's cost per byte.

The source is read ``chunk_bytes`` at a time; what is kept between reads is at most the frame
that a read cut, so memory follows the largest frame, not the capture.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Union

from ..schemas.registry import Registry
from ..wire._codec import Message, Resync, iter_frames
from ..wire.enums import MessageType
from ..wire.layouts import HEADER_SIZE
from ..wire.errors import (BadMagicError, ChecksumError, FrameTooLargeError, LengthMismatchError,
                           ParseError, SchemaError, TLVError, TruncatedError,
                           UnknownMessageTypeError, UnknownVersionError)
from .batch import BadStretch, _check_chunk, reading_registry

DEFAULT_CHUNK_BYTES = 1 << 20

KINDS: dict[type[ParseError], str] = {
    TruncatedError: "truncated", BadMagicError: "bad_magic", FrameTooLargeError: "too_large",
    UnknownMessageTypeError: "unknown_type", UnknownVersionError: "unknown_version",
    ChecksumError: "checksum_mismatch", LengthMismatchError: "length_mismatch",
    TLVError: "bad_tlv",
}

Item = Union[Message, BadStretch]


class _Open:
    """A bad stretch whose end is not found yet."""

    def __init__(self, offset: int, error: ParseError, claimed: int) -> None:
        self.offset = offset
        self.kind = KINDS[type(error)]
        self.claimed = claimed  # the frame size its header announced

    def close(self, end: int) -> BadStretch:
        length = end - self.offset
        # as in the batch path: a frame cut short and followed by the next one fails its
        # checksum, but what happened to it is that it was cut
        if self.kind == "checksum_mismatch" and length < self.claimed:
            return BadStretch(self.offset, length, "truncated")
        return BadStretch(self.offset, length, self.kind)


class MessageStream:
    """The messages and bad stretches of one capture, in order; see iter_messages.

    ``position`` is the byte offset just after the last item yielded (a message's own offset
    is ``position - message.size``); ``refused_schemas`` lists the announcements whose schema
    could not be registered; ``resync`` is the search for good frames after bad ones, whose
    ``candidates`` and ``checksummed_bytes`` tell what it has cost.
    """

    def __init__(self, source: Any, verify: bool, max_frame_size: int | None,
                 registry: Registry | None, types: Iterable[int | str] | None, learn: bool,
                 learn_into: Registry | None, chunk_bytes: int) -> None:
        _check_chunk(chunk_bytes)
        self.registry = reading_registry(registry, learn, learn_into)
        self.position = 0
        self.refused_schemas: list[str] = []
        self._source = source
        self._options: dict[str, Any] = {"verify": verify, "max_frame_size": max_frame_size,
                         "registry": self.registry}
        self._wanted = None if types is None else {
            self.registry.type_of_name(t) if isinstance(t, str) else int(t) for t in types}
        self._learn = learn
        self._chunk_bytes = chunk_bytes
        self.resync = Resync(verify, max_frame_size, self.registry)

    def __iter__(self) -> Iterator[Item]:
        with _reader(self._source, self._chunk_bytes) as read:
            yield from self._items(read)

    def _items(self, read: Callable[[], bytes]) -> Iterator[Item]:
        data = b""
        base = at = 0              # data[0] is byte `base` of the capture; `at` is where we are
        final = False
        stretch: _Open | None = None
        while True:
            if stretch is None:
                at, error = yield from self._good_run(data, base, at)
                if error is not None and (final or not isinstance(error, TruncatedError)):
                    stretch = _Open(base + at, error, _claimed(data, at))
                    at += 1
            if stretch is not None:
                at, found = self.resync.next_frame(data, at, final)
                if found or final:
                    self.position = base + at
                    yield stretch.close(base + at)
                    stretch = None
                    continue
            if final:
                return
            chunk = read()
            final = not chunk
            data, base, at = data[at:] + chunk if at < len(data) else chunk, base + at, 0

    def _good_run(self, data: bytes, base: int, at: int) -> Generator[Item, None,
                                                                      tuple[int, ParseError | None]]:
        """Yield the good frames from `at` on; returns where they end and the error that stopped
        them (None at the end of the data)."""
        frames = iter_frames(memoryview(data)[at:], **self._options)
        try:
            for message in frames:
                self.position = base + at + frames.position
                if self._learn and message.header.message_type == MessageType.SchemaAnnouncement:
                    self._learn_from(message)
                if self._wanted is None or message.header.message_type in self._wanted:
                    yield message
        except ParseError as error:
            return at + frames.position, error
        return at + frames.position, None

    def _learn_from(self, message: Message) -> None:
        try:
            self.registry.learn(message, self._options["verify"])
        except SchemaError as error:
            self.refused_schemas.append(str(error))


def iter_messages(source: Any, verify: bool = True, max_frame_size: int | None = None,
                  registry: Registry | None = None, types: Iterable[int | str] | None = None,
                  learn: bool = True, *, learn_into: Registry | None = None,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> MessageStream:
    """The messages of a capture and its bad stretches (BadStretch items), in order.

    `source` is a path, a binary stream (read as it comes: a pipe's frames are yielded as they
    arrive) or a buffer. `types` keeps only the messages of those types (by number or name);
    the others are still checked. Schema announcements are learned as they come, as
    decode_batch does: into an overlay of `registry` (the default when None) that lives as
    long as the stream (``stream.registry``), or into `learn_into`; not when `learn` is False.
    Messages may view the bytes of one read: keeping one keeps that read's bytes alive.
    """
    return MessageStream(source, verify, max_frame_size, registry, types, learn, learn_into,
                         chunk_bytes)


def _claimed(data: bytes, at: int) -> int:
    """The frame size that the header at `at` announces (0 when its size field is cut off)."""
    if len(data) - at < 12:
        return 0
    return HEADER_SIZE + struct.unpack_from("<I", data, at + 8)[0]


@contextmanager
def _reader(source: Any, chunk_bytes: int) -> Iterator[Callable[[], bytes]]:
    """A function that reads the next piece of `source` (b"" at its end); a stream's pieces
    are what it holds at the time, up to chunk_bytes, so a pipe is read as it fills."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            yield lambda: stream.read1(chunk_bytes)
    elif hasattr(source, "read1") or hasattr(source, "read"):
        read = getattr(source, "read1", None) or source.read
        yield lambda: read(chunk_bytes)
    else:
        pieces = iter([bytes(source)])
        yield lambda: next(pieces, b"")
