"""Transports: how frames travel between producers and consumers. The shared-memory ring
(shm) is a broadcast ring in a memory-mapped file for the processes of one machine; the
channel (channel) a bounded broadcast between the threads and asyncio tasks of one process.
Stands on the wire core, the schemas, the batch decoder and the relays' clients and policies."""
from .channel import Channel
from .errors import (BackpressureTimeout, RingCorruptError, RingError, RingMismatchError,
                     RingSlotsExhaustedError)
from .shm import Consumer, GapReport, Producer, remove_ring, ring_path

__all__ = ["BackpressureTimeout", "Channel", "RingCorruptError", "RingError",
           "RingMismatchError", "RingSlotsExhaustedError", "Consumer", "GapReport", "Producer",
           "remove_ring", "ring_path"]
