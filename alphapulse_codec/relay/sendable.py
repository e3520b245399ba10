"""What a producer's ``send`` and ``send_batch`` take, on every transport: a message or one
frame's bytes, and frames' bytes back to back. Anything else is refused here, naming the
argument, before a transport reads it: an int has a ``to_bytes()`` too, and read as a frame it
would be refused as a truncated one, which says nothing of the mistake."""
from __future__ import annotations

from typing import Any

from ..wire._codec import Message
from ..wire.errors import FieldValueError


def one_frame(message: Any) -> bytes | bytearray | memoryview:
    """The bytes to send for ``send(message)``: a message's sealed frame, or the bytes given
    (a bytes-like object; whether they hold one whole frame is the transport's check)."""
    if isinstance(message, Message):
        return message.to_bytes()
    return _bytes_like(message, "message", "a Message or one frame's bytes")


def frames_buffer(buffer: Any) -> bytes | bytearray | memoryview:
    """The bytes to send for ``send_batch(buffer)``: the bytes-like object given."""
    return _bytes_like(buffer, "buffer", "frames' bytes back to back (encode_batch output,"
                                         " a capture's bytes)")


def _bytes_like(data: Any, argument: str, expected: str) -> bytes | bytearray | memoryview:
    if isinstance(data, (bytes, bytearray)):
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise FieldValueError(f"{argument}: expected {expected} as a bytes-like object, got"
                              f" {type(data).__name__}", field=argument) from None
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view
