"""The object cache: what discovery messages say about instruments, keyed by their IDs.

    cache = ObjectCache()
    for frame in frames:
        cache.process_message(frame)
    cache[pool_id].token0, cache.debug_info(pool_id)

InstrumentDiscovered frames become InstrumentMetadata (TokenMetadata for tokens, with the full
address when the metadata holds one); PoolDiscovered frames become PoolMetadata, whose metadata
holds the pool's two token IDs and, optionally, its contract address (``pool_metadata()``
writes it; docs/protocol.md has the layout). Objects are keyed by the lossless 96-bit key of
their InstrumentId. An ID that a second, different object claims (two token pairs whose pool
formula gives one ID, two tokens with the same first 8 address bytes) is a collision: the
first object stays, and the collision is kept in ``collisions``, never silently overwritten.
Run-time schemas with a ``cache`` rule add objects of their own.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..wire._codec import InstrumentId, Message
from ..wire.enums import AssetType, MessageType
from ..wire.errors import ParseError
from .registry import Registry
from .registry import default as default_registry

ADDRESS_SIZE = 20
ID_SIZE = 12


@dataclass(frozen=True)
class InstrumentMetadata:
    id: InstrumentId
    symbol: str
    decimals: int
    discovered_at: int              # the discovery frame's timestamp, ns since the epoch
    metadata: bytes = b""

    def identity(self) -> tuple[Any, ...]:
        """What makes two objects with one ID the same object."""
        return (type(self).__name__,)


@dataclass(frozen=True)
class TokenMetadata(InstrumentMetadata):
    address: str | None = None      # '0x' + 40 hex digits, when the metadata holds it

    def identity(self) -> tuple[Any, ...]:
        return ("token", self.address)


@dataclass(frozen=True)
class PoolMetadata(InstrumentMetadata):
    token0: InstrumentId | None = None
    token1: InstrumentId | None = None
    address: str | None = None      # the pool contract, when the metadata holds it

    def identity(self) -> tuple[Any, ...]:
        pair = frozenset(t.key for t in (self.token0, self.token1) if t is not None)
        return ("pool", pair, self.address)


@dataclass(frozen=True)
class CustomObject:
    """An object of a run-time schema's cache rule: the frame's fields by name."""

    id: InstrumentId
    kind: str
    schema: str
    fields: dict[str, Any]
    discovered_at: int
    symbol: str | None = None
    decimals: int | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.kind, self.schema)


CachedObject = InstrumentMetadata | CustomObject


@dataclass(frozen=True)
class IdCollision:
    """Two different objects that claim one ID: `kept` stays cached, `rejected` does not."""

    id: InstrumentId
    kept: CachedObject
    rejected: CachedObject

    def __str__(self) -> str:
        return (f"ID collision on {self.id.debug_info()}: {_describe(self.kept)} is cached,"
                f" {_describe(self.rejected)} claims the same ID")


class CacheError(ParseError):
    """A discovery message's metadata does not fit its documented layout or its ID."""


def pool_metadata(token0: InstrumentId, token1: InstrumentId, address: str | None = None) -> bytes:
    """The metadata of a PoolDiscovered frame: both token IDs, then the pool's address."""
    raw = token0.to_bytes() + token1.to_bytes()
    if address is not None:
        raw += _address_bytes(address)
    return raw


class ObjectCache:
    """Objects built from discovery messages, by the lossless key of their InstrumentId."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry
        self._objects: dict[int, CachedObject] = {}
        self.collisions: list[IdCollision] = []

    def process_message(self, frame: Any) -> CachedObject | IdCollision | None:
        """Update the cache from one frame (bytes or a decoded message); returns the object
        cached, the collision found, or None when the frame says nothing the cache keeps."""
        message = frame if isinstance(frame, Message) else self.registry.decode(frame)
        found = self._object_of(message)
        if found is None:
            return None
        key = found.id.key
        kept = self._objects.get(key)
        if kept is not None and kept.identity() != found.identity():
            collision = IdCollision(found.id, kept, found)
            self.collisions.append(collision)
            return collision
        self._objects[key] = found
        return found

    def _object_of(self, message: Message) -> CachedObject | None:
        header = message.header
        if header.message_type == MessageType.InstrumentDiscovered and type(message).layout.tail:
            return _instrument(message, header.timestamp)
        if header.message_type == MessageType.PoolDiscovered and type(message).layout.tail:
            return _pool(message, header.timestamp)
        schema = getattr(type(message), "schema", None)
        if schema is None or schema.cache is None:
            return None
        rule = schema.cache
        fields = message.fields()
        return CustomObject(
            getattr(message, rule.id), rule.kind, schema.name, fields, header.timestamp,
            getattr(message, rule.symbol) if rule.symbol else None,
            getattr(message, rule.decimals) if rule.decimals else None)

    def get(self, instrument: InstrumentId | int, default: Any = None) -> Any:
        return self._objects.get(_key(instrument), default)

    def __getitem__(self, instrument: InstrumentId | int) -> CachedObject:
        try:
            return self._objects[_key(instrument)]
        except KeyError:
            raise KeyError(f"nothing cached for {instrument!r}") from None

    def __contains__(self, instrument: object) -> bool:
        return isinstance(instrument, (InstrumentId, int)) and _key(instrument) in self._objects

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[CachedObject]:
        return iter(self._objects.values())

    def symbol(self, instrument: InstrumentId | int) -> str | None:
        """The symbol the cache knows for an ID, or None."""
        found = self.get(instrument)
        return getattr(found, "symbol", None)


def _key(instrument: InstrumentId | int) -> int:
    return instrument.key if isinstance(instrument, InstrumentId) else int(instrument)


def _instrument(message: Any, discovered_at: int) -> InstrumentMetadata:
    iid, metadata = message.instrument_id, message.metadata
    common = (iid, message.symbol, message.decimals, discovered_at, metadata)
    if iid.asset_type != AssetType.Token:
        return InstrumentMetadata(*common)
    if not metadata:
        return TokenMetadata(*common)
    if len(metadata) != ADDRESS_SIZE:
        raise CacheError(f"InstrumentDiscovered {message.symbol!r}: token metadata is its"
                         f" {ADDRESS_SIZE}-byte address, got {len(metadata)} bytes",
                         field="metadata")
    address = "0x" + metadata.hex()
    if int.from_bytes(metadata[:8], "big") != iid.asset_id:
        raise CacheError(f"InstrumentDiscovered {message.symbol!r}: address {address} does not"
                         f" give asset_id 0x{iid.asset_id:016x}", field="metadata")
    return TokenMetadata(*common, address=address)


def _pool(message: Any, discovered_at: int) -> PoolMetadata:
    iid, metadata = message.instrument_id, message.metadata
    if len(metadata) not in (2 * ID_SIZE, 2 * ID_SIZE + ADDRESS_SIZE):
        raise CacheError(f"PoolDiscovered {message.symbol!r}: metadata is token0 and token1 IDs"
                         f" ({2 * ID_SIZE} bytes) and optionally the pool address"
                         f" ({ADDRESS_SIZE} more), got {len(metadata)} bytes", field="metadata")
    token0 = InstrumentId.from_bytes(metadata[:ID_SIZE])
    token1 = InstrumentId.from_bytes(metadata[ID_SIZE:2 * ID_SIZE])
    address = "0x" + metadata[2 * ID_SIZE:].hex() if len(metadata) > 2 * ID_SIZE else None
    by_tokens = InstrumentId.pool(iid.venue, token0, token1)
    by_address = InstrumentId.pool_from_address(iid.venue, address) if address else None
    if iid not in (by_tokens, by_address):
        raise CacheError(f"PoolDiscovered {message.symbol!r}: {iid!r} is neither the pool ID of"
                         " its tokens nor of its address", field="instrument_id")
    return PoolMetadata(iid, message.symbol, message.decimals, discovered_at, metadata,
                        token0, token1, address)


def _address_bytes(address: str) -> bytes:
    InstrumentId.ethereum_token(address)  # refuses anything but '0x' + 40 hex digits, clearly
    return bytes.fromhex(address[2:])


def _describe(found: CachedObject) -> str:
    if isinstance(found, PoolMetadata):
        tokens = "/".join(t.debug_info() for t in (found.token0, found.token1) if t is not None)
        return f"pool {found.symbol!r} ({tokens}{', ' + found.address if found.address else ''})"
    if isinstance(found, TokenMetadata):
        return f"token {found.symbol!r} ({found.address or 'no address'})"
    return f"{type(found).__name__} {getattr(found, 'symbol', None)!r}"
