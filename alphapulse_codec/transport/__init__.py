"""Transports: how frames travel between producers and consumers, above the relays.
``connect(domain, role, config=...)`` gives the client of whichever transport the
configuration names for the domain (``config``: the design's stages, docs/transports.md):
the relays on Unix sockets, the channel (a bounded broadcast between the threads and asyncio
tasks of one process), the shared-memory ring (shm: a broadcast ring in a memory-mapped file
for the processes of one machine), `nats` (NATS, JetStream optional) and `redis_streams`
(Redis Streams) between machines; the last two are imported by name, as they need the `nats`
and `redis` extras. ``aio.connect`` is the same on asyncio (NATS's own asyncio clients are
`nats_aio`). Every transport reports its losses with the relay's Gap."""
from .channel import Channel
from .config import Endpoint, TransportsConfig, load_config
from .errors import (BackpressureTimeout, BusConnectionError, BusError, RingCorruptError,
                     RingError, RingMismatchError, RingSlotsExhaustedError)
from .select import connect
from .shm import Consumer, Producer, remove_ring, ring_path

__all__ = ["connect", "load_config", "Endpoint", "TransportsConfig", "BackpressureTimeout",
           "BusConnectionError", "BusError", "Channel", "RingCorruptError", "RingError",
           "RingMismatchError", "RingSlotsExhaustedError", "Consumer", "Producer",
           "remove_ring", "ring_path"]
