"""The relays' clients on asyncio (uvloop's loop included): ``await aio.connect(domain, role,
...)`` and ``aio.subscribe_many(config)``, the API of ``alphapulse_codec.connect`` and
``alphapulse_codec.subscribe_many`` awaited."""
from .relay.aio import AsyncConsumer, AsyncMultiConsumer, AsyncProducer, connect, subscribe_many
from .relay.backoff import Backoff

__all__ = ["connect", "subscribe_many", "AsyncProducer", "AsyncConsumer", "AsyncMultiConsumer",
           "Backoff"]
