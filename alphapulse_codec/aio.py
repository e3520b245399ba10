"""The clients on asyncio (uvloop's loop included): ``await aio.connect(domain, role, ...)``
on any transport the configuration names, and ``aio.subscribe_many(config)`` over the relays,
the API of ``alphapulse_codec.connect`` and ``alphapulse_codec.subscribe_many`` awaited."""
from .relay.aio import AsyncConsumer, AsyncMultiConsumer, AsyncProducer, subscribe_many
from .relay.backoff import Backoff
from .transport.aio import connect

__all__ = ["connect", "subscribe_many", "AsyncProducer", "AsyncConsumer", "AsyncMultiConsumer",
           "Backoff"]
