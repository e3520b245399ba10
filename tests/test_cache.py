"""The object cache: discovery messages become objects keyed by IDs; collisions are caught."""
from __future__ import annotations

import pytest

import alphapulse_codec as ap
from alphapulse_codec.schemas.cache import (CacheError, CustomObject, IdCollision, ObjectCache, PoolMetadata,
                                    TokenMetadata, pool_metadata)
from alphapulse_codec.samples.session import USDC_ADDRESS, USDC_WETH_POOL_ADDRESS, WETH_ADDRESS, build_session
from frames import zeroed, zeroed_frame

USDC = ap.InstrumentId.ethereum_token(USDC_ADDRESS)
WETH = ap.InstrumentId.ethereum_token(WETH_ADDRESS)


def pool_frame(pool: ap.InstrumentId, symbol: str, metadata: bytes, timestamp: int = 5) -> bytes:
    return ap.PoolDiscovered.encode(instrument_id=pool, decimals=18, symbol=symbol,
                                    metadata=metadata, timestamp=timestamp)


def test_the_sample_session_fills_the_cache():
    cache = ObjectCache()
    for frame in build_session(200):
        cache.process_message(frame)
    assert not cache.collisions
    pool = cache[ap.InstrumentId.pool(ap.VenueId.UniswapV3, USDC, WETH)]
    assert isinstance(pool, PoolMetadata)
    assert (pool.symbol, pool.token0, pool.token1) == ("USDC/WETH", USDC, WETH)
    assert pool.address == USDC_WETH_POOL_ADDRESS
    assert cache.symbol(USDC) == "USDC" and isinstance(cache[USDC], TokenMetadata)
    aapl = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    assert cache[aapl.key].decimals == 2 and aapl in cache


def test_lookups_by_id_and_by_key_and_debug_info_with_the_symbol():
    cache = ObjectCache()
    pool = ap.InstrumentId.pool(ap.VenueId.UniswapV3, USDC, WETH)
    found = cache.process_message(pool_frame(pool, "USDC/WETH", pool_metadata(USDC, WETH),
                                             timestamp=1_700_000_000))
    assert cache[pool] is found is cache[pool.key] and found.discovered_at == 1_700_000_000
    assert pool.debug_info(cache) == f"UniswapV3 Pool #{pool.asset_id} (USDC/WETH)"
    assert pool.debug_info() == f"UniswapV3 Pool #{pool.asset_id}"
    with pytest.raises(KeyError, match="nothing cached"):
        cache[USDC]


def test_two_token_pairs_with_one_pool_id_are_a_collision_not_an_overwrite():
    # the design's pool formula, (id0 >> 1) ^ (id1 << 1), drops the low bit of the lower ID
    low, high, other = (ap.InstrumentId(venue=ap.VenueId.Ethereum, asset_type=ap.AssetType.Token, asset_id=n) for n in (0, 1, 2))
    pool_a = ap.InstrumentId.pool(ap.VenueId.UniswapV2, low, other)
    pool_b = ap.InstrumentId.pool(ap.VenueId.UniswapV2, high, other)
    assert pool_a == pool_b
    cache = ObjectCache()
    kept = cache.process_message(pool_frame(pool_a, "A/C", pool_metadata(low, other)))
    collision = cache.process_message(pool_frame(pool_b, "B/C", pool_metadata(high, other)))
    assert isinstance(collision, IdCollision) and cache.collisions == [collision]
    assert collision.kept is kept and cache[pool_a] is kept
    assert collision.rejected.token0 == high
    assert "ID collision on UniswapV2 Pool #" in str(collision) and "'B/C'" in str(collision)


def test_rediscovering_the_same_pool_refreshes_it():
    cache = ObjectCache()
    pool = ap.InstrumentId.pool(ap.VenueId.UniswapV3, USDC, WETH)
    cache.process_message(pool_frame(pool, "USDC/WETH", pool_metadata(WETH, USDC), timestamp=1))
    cache.process_message(pool_frame(pool, "USDC/WETH", pool_metadata(USDC, WETH), timestamp=2))
    assert not cache.collisions and cache[pool].discovered_at == 2 and len(cache) == 1


@pytest.mark.parametrize("metadata, words", [
    (b"\x00" * 10, "metadata is token0 and token1 IDs"),
    (pool_metadata(USDC, USDC), "neither the pool ID of its tokens nor of its address"),
])
def test_pool_metadata_must_fit_its_layout_and_its_id(metadata, words):
    pool = ap.InstrumentId.pool(ap.VenueId.UniswapV3, USDC, WETH)
    with pytest.raises(CacheError, match=words) as caught:
        ObjectCache().process_message(pool_frame(pool, "X", metadata))
    assert isinstance(caught.value, ap.ParseError)


def test_a_pool_named_by_its_address_is_checked_against_it():
    pool = ap.InstrumentId.pool_from_address(ap.VenueId.UniswapV3, USDC_WETH_POOL_ADDRESS)
    found = ObjectCache().process_message(
        pool_frame(pool, "USDC/WETH 0.05%", pool_metadata(USDC, WETH, USDC_WETH_POOL_ADDRESS)))
    assert found.address == USDC_WETH_POOL_ADDRESS


def test_tokens_with_one_id_but_different_addresses_collide():
    twin = "0x" + USDC_ADDRESS[2:18] + "f" * 24   # same first 8 bytes, another token
    cache = ObjectCache()
    for address in (USDC_ADDRESS, twin):
        cache.process_message(ap.InstrumentDiscovered.encode(
            instrument_id=USDC, decimals=6, symbol="USDC", metadata=bytes.fromhex(address[2:])))
    assert len(cache.collisions) == 1 and cache[USDC].address == USDC_ADDRESS
    wrong = zeroed_frame(ap.InstrumentDiscovered, instrument_id=USDC, symbol="USDC",
                                           metadata=bytes.fromhex(WETH_ADDRESS[2:]))
    with pytest.raises(CacheError, match="does not give asset_id"):
        cache.process_message(wrong)


def test_runtime_schemas_declare_their_cache_objects():
    registry = ap.Registry()
    listing = registry.register(ap.Schema(
        message_type=250, version=1, name="Listing",
        fields=[("instrument", "instrument_id"), ("ticker", "ascii[8]"), ("digits", "u8")],
        cache={"kind": "instrument", "id": "instrument", "symbol": "ticker", "decimals": "digits"}))
    cache = ObjectCache(registry)
    ibm = ap.InstrumentId.stock(ap.VenueId.NYSE, "IBM")
    found = cache.process_message(listing(instrument=ibm, ticker="IBM", digits=2, timestamp=9).to_bytes())
    assert isinstance(found, CustomObject)
    assert (found.kind, found.schema, found.symbol, found.decimals, found.discovered_at) == (
        "instrument", "Listing", "IBM", 2, 9)
    assert cache[ibm] is found and ibm.debug_info(cache) == "NYSE Stock: IBM (IBM)"
    assert cache.process_message(zeroed(ap.Trade, price=1).to_bytes()) is None
