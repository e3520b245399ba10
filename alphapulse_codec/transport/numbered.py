"""A producer's ``source`` and ``sequence="auto"`` on the transports whose own clients have
neither (the ring, NATS, Redis Streams), so that a service written against the relays, which
numbers its frames per source with ``sequence="auto"``, runs unchanged on every transport.

The relay client and the channel number frames themselves, continuing where the relay (or
the channel) says a source stopped; here nothing outside the producer keeps a count, so a
new producer starts each source at 1.
"""
from __future__ import annotations

from typing import Any, Self

from ..relay import sendable
from ..relay._route import Sequencer, count_frames
from ..wire._codec import DEFAULT_MAX_FRAME_SIZE
from ..wire.errors import FieldValueError


class Numbering:
    """The declared source of a producer and, with ``sequence="auto"``, the next sequence of
    every source it writes as."""

    def __init__(self, source: int, numbered: bool) -> None:
        self.source = source
        self._sequencer = Sequencer() if numbered else None

    def one(self, message: Any) -> Any:
        """The frame to send for ``message`` (a message or one frame's bytes), numbered."""
        frame = sendable.one_frame(message)
        if self._sequencer is None:
            return frame
        count = count_frames(frame, DEFAULT_MAX_FRAME_SIZE)
        if count != 1:  # before numbering: a refused send takes no sequence
            raise FieldValueError(f"send takes one frame, got {count}: use send_batch",
                                  field="message")
        return self._numbered(frame, self._sequencer)

    def many(self, buffer: Any) -> Any:
        """The frames to send for ``buffer``, numbered."""
        buffer = sendable.frames_buffer(buffer)
        return buffer if self._sequencer is None else self._numbered(buffer, self._sequencer)

    @staticmethod
    def _numbered(frames: Any, sequencer: Sequencer) -> bytearray:
        # a copy: the caller's buffer stays as it was (bytes, or a buffer it reuses)
        copy = bytearray(frames)
        sequencer.stamp(copy, DEFAULT_MAX_FRAME_SIZE)
        return copy

    def next_sequence(self, source: int | None = None) -> int:
        """The sequence the next frame of ``source`` (the declared one by default) gets."""
        if self._sequencer is None:
            raise FieldValueError("sequence numbers are the caller's: connect with"
                                  " sequence='auto' to have them counted", field="sequence")
        return int(self._sequencer.next(self.source if source is None else source))


class SourcedProducer:
    """A transport's producer writing as its Numbering says. Everything else is the
    transport's producer's own."""

    def __init__(self, producer: Any, numbering: Numbering) -> None:
        self._producer = producer
        self._numbering = numbering
        self.source = numbering.source
        self.next_sequence = numbering.next_sequence

    def send(self, message: Any) -> None:
        """Send one message (an object with ``to_bytes()``) or one frame's bytes."""
        self._producer.send(self._numbering.one(message))

    def send_batch(self, buffer: Any) -> int:
        """Send many whole frames back to back; returns how many."""
        return int(self._producer.send_batch(self._numbering.many(buffer)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> Any:
        return self._producer.__exit__(*exc_info)

    def __repr__(self) -> str:
        return f"SourcedProducer({self._producer!r}, source={self.source})"


class AsyncSourcedProducer:
    """SourcedProducer for an asyncio producer: the same, awaited."""

    def __init__(self, producer: Any, numbering: Numbering) -> None:
        self._producer = producer
        self._numbering = numbering
        self.source = numbering.source
        self.next_sequence = numbering.next_sequence

    async def send(self, message: Any) -> None:
        await self._producer.send(self._numbering.one(message))

    async def send_batch(self, buffer: Any) -> int:
        return int(await self._producer.send_batch(self._numbering.many(buffer)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self._producer.__aexit__(*exc_info)

    def __repr__(self) -> str:
        return f"AsyncSourcedProducer({self._producer!r}, source={self.source})"
