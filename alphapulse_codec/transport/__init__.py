"""Transports: how frames travel between producers and consumers. The shared-memory ring
(shm) is a broadcast ring in a memory-mapped file for the processes of one machine; `nats`
(NATS, JetStream optional) and `redis_streams` (Redis Streams) carry frames between machines
and are imported by name, as they need the `nats` and `redis` extras. Stands on the wire
core, the schemas and the batch decoder."""
from .errors import (BackpressureTimeout, BusConnectionError, BusError, RingCorruptError,
                     RingError, RingMismatchError, RingSlotsExhaustedError)
from .shm import Consumer, GapReport, Producer, remove_ring, ring_path

__all__ = ["BackpressureTimeout", "BusConnectionError", "BusError", "RingCorruptError",
           "RingError", "RingMismatchError", "RingSlotsExhaustedError", "Consumer", "GapReport",
           "Producer", "remove_ring", "ring_path"]
