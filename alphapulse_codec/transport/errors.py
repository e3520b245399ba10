"""The exceptions of the transports.

A ring file whose bytes break the ring's rules raises RingCorruptError (a ParseError: ``offset``
is the byte offset in the file, ``field`` the field at fault); a ring that exists with another
size, policy, owner or mode raises RingMismatchError; a producer of a backpressure ring that the
slowest consumer kept waiting past its timeout raises BackpressureTimeout.
"""
from __future__ import annotations

from ..wire.errors import ParseError


class RingError(ParseError):
    """A shared-memory ring cannot be used as asked."""


class RingCorruptError(RingError):
    """The ring file's header or records break its rules."""


class RingMismatchError(RingError):
    """The ring file exists with another capacity or policy, or is not the user's private file."""


class RingSlotsExhaustedError(RingError):
    """Every producer (or consumer) slot of the ring is held by a live process."""


class BackpressureTimeout(TimeoutError):
    """The slowest consumer of a backpressure ring did not make room in time."""


__all__ = ["RingError", "RingCorruptError", "RingMismatchError", "RingSlotsExhaustedError",
           "BackpressureTimeout"]


class BusError(ConnectionError):
    """A message bus (NATS, Redis) could not be reached or refused what was asked of it."""


class BusConnectionError(BusError):
    """No server of the list answered: the message names each one and what it said."""


__all__ += ["BusError", "BusConnectionError"]
