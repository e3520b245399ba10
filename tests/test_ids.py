"""InstrumentId: constructors, packing rules, lossless keys."""
from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire.jsonmap import to_json
from alphapulse_codec.wire.layouts import INSTRUMENT_ID
from strategies import instrument_ids

USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"


def test_fields_and_wire_bytes():
    iid = ap.InstrumentId(venue=300, asset_type=8, asset_id=0x0102030405060708, reserved=9)
    assert (iid.venue, iid.asset_type, iid.asset_id, iid.reserved) == (300, 8, 0x0102030405060708, 9)
    assert iid.to_bytes() == bytes.fromhex("2c010809") + bytes.fromhex("0807060504030201")
    assert ap.InstrumentId.from_bytes(iid.to_bytes()) == iid


def test_stock_packs_the_symbol_big_endian():
    aapl = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
    assert aapl.asset_id == int.from_bytes(b"AAPL\0\0\0\0", "big")
    assert aapl.asset_type == ap.AssetType.Stock and aapl.symbol == "AAPL"
    assert aapl.debug_info() == "NASDAQ Stock: AAPL"
    assert ap.InstrumentId.stock(ap.VenueId.NYSE, "BRK.B_XY").symbol == "BRK.B_XY"


@pytest.mark.parametrize("symbol", ["", "TOOLONGSYM", "caf\u00e9", "A\nB"])
def test_stock_refuses_symbols_that_break_the_rules(symbol):
    with pytest.raises(ap.FieldValueError, match="1 to 8 printable ASCII"):
        ap.InstrumentId.stock(ap.VenueId.NASDAQ, symbol)


def test_ethereum_token_takes_the_first_8_address_bytes():
    usdc = ap.InstrumentId.ethereum_token(USDC)
    assert usdc.asset_id == 0xA0B86991C6218B36
    assert (usdc.venue, usdc.asset_type) == (ap.VenueId.Ethereum, ap.AssetType.Token)
    assert usdc.debug_info() == "ETH Token 0xa0b86991c6218b36..."
    assert ap.InstrumentId.ethereum_token(USDC.upper().replace("0X", "0x")) == usdc


@pytest.mark.parametrize("address", ["a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0x1234",
                                     "0x" + "g" * 40, USDC + "00", 42])
def test_ethereum_token_refuses_bad_addresses(address):
    with pytest.raises(ap.FieldValueError, match="address"):
        ap.InstrumentId.ethereum_token(address)


def test_pool_formula_is_the_designs_and_order_independent():
    usdc, weth = ap.InstrumentId.ethereum_token(USDC), ap.InstrumentId.ethereum_token(WETH)
    pool = ap.InstrumentId.pool(ap.VenueId.UniswapV3, usdc, weth)
    low, high = sorted([usdc.asset_id, weth.asset_id])
    assert pool.asset_id == ((low >> 1) ^ (high << 1)) & (2**64 - 1)
    assert pool == ap.InstrumentId.pool(ap.VenueId.UniswapV3, weth, usdc)
    assert pool.debug_info() == f"UniswapV3 Pool #{pool.asset_id}"


def test_pool_from_its_contract_address():
    pool = ap.InstrumentId.pool_from_address(ap.VenueId.UniswapV3,
                                             "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640")
    assert pool.asset_id == 0x88E6A0C2DDD26FEE and pool.asset_type == ap.AssetType.Pool


def test_to_u64_refuses_what_it_cannot_hold():
    small = ap.InstrumentId(venue=ap.VenueId.Binance, asset_type=ap.AssetType.CryptoSpot, asset_id=12345)
    assert ap.InstrumentId.from_u64(small.to_u64()) == small
    assert small.to_u64() == (100 << 48) | (6 << 40) | 12345
    with pytest.raises(ap.FieldValueError, match="no lossless 64-bit form.*use .key"):
        ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL").to_u64()
    with pytest.raises(ap.FieldValueError, match="reserved byte"):
        ap.InstrumentId(venue=1, asset_type=1, asset_id=1, reserved=1).to_u64()
    with pytest.raises(ap.FieldValueError):
        ap.InstrumentId.from_u64(-1)


@given(instrument_ids)
def test_key_is_lossless(iid):
    assert ap.InstrumentId.from_key(iid.key) == iid
    assert 0 <= iid.key < 2**96
    assert ap.InstrumentId.from_bytes(iid.to_bytes()) == iid
    assert pickle.loads(pickle.dumps(iid)) == iid


@given(instrument_ids, instrument_ids)
def test_equality_and_hash_follow_the_key(a, b):
    assert (a == b) == (a.key == b.key)
    if a == b:
        assert hash(a) == hash(b)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 2**40 - 1))
def test_u64_round_trip_where_lossless(venue, asset_type, asset_id):
    iid = ap.InstrumentId(venue=venue, asset_type=asset_type, asset_id=asset_id)
    assert ap.InstrumentId.from_u64(iid.to_u64()) == iid


@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8))
def test_stock_symbol_round_trip(symbol):
    assert ap.InstrumentId.stock(ap.VenueId.NYSE, symbol).symbol == symbol


def test_constructor_checks_ranges():
    with pytest.raises(ap.FieldValueError, match="venue"):
        ap.InstrumentId(venue=70000)
    with pytest.raises(ap.FieldValueError, match="asset_id"):
        ap.InstrumentId(asset_id=2**64)
    with pytest.raises(ap.FieldValueError, match="96-bit"):
        ap.InstrumentId.from_key(2**96)


def test_unknown_venue_and_asset_type_still_print():
    assert ap.InstrumentId(venue=999, asset_type=77, asset_id=5).debug_info() == "999 77 #5"


def test_positional_fields_are_in_wire_order():
    iid = ap.InstrumentId(300, 8, 9, 0x0102030405060708)
    assert (iid.venue, iid.asset_type, iid.reserved, iid.asset_id) == (300, 8, 9, 0x0102030405060708)
    assert iid.astuple() == (300, 8, 9, 0x0102030405060708)
    assert iid == ap.InstrumentId(venue=300, asset_type=8, reserved=9, asset_id=0x0102030405060708)
    assert repr(iid) == "InstrumentId(venue=300, asset_type=8, reserved=9, asset_id=72623859790382856)"
    assert eval(repr(iid), {"InstrumentId": ap.InstrumentId}) == iid
    assert pickle.loads(pickle.dumps(iid)) == iid


def test_every_sequence_form_has_the_wire_order():
    names = tuple(f.name for f in INSTRUMENT_ID.fields)
    assert names == ("venue", "asset_type", "reserved", "asset_id")
    assert ap.dtype(ap.MessageType.Trade)["instrument_id"].names == names
    iid = ap.InstrumentId(venue=300, asset_type=8, reserved=9, asset_id=77)
    trade = ap.Trade(instrument_id=iid, price=1, volume=2, side=ap.Side.Buy)
    assert tuple(to_json(trade)["instrument_id"]) == names
    assert ap.InstrumentId(*to_json(trade)["instrument_id"].values()) == iid


def test_a_decoded_row_builds_its_id_back():
    ids = [ap.InstrumentId(venue=300, asset_type=8, reserved=9, asset_id=2**64 - 1),
           ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")]
    capture = b"".join(ap.Trade.encode(instrument_id=iid, price=1, volume=2, side=ap.Side.Buy)
                       for iid in ids)
    rows = ap.decode_batch(capture)["Trade"]["instrument_id"]
    assert [ap.InstrumentId(*row) for row in rows] == ids
    assert [ap.InstrumentId(*row) for row in rows.tolist()] == ids


@pytest.mark.parametrize("call, words", [
    (lambda: ap.InstrumentId(1, 2, 3), "all four fields in wire order"),
    (lambda: ap.InstrumentId(1), "got 1 positional"),
    (lambda: ap.InstrumentId(1, 2, 3, 4, 5), "got 5 positional"),
    (lambda: ap.InstrumentId(1, 2, 0, 4, asset_id=4), "not both"),
])
def test_partial_or_mixed_positional_use_is_refused(call, words):
    with pytest.raises(TypeError, match=words):
        call()
