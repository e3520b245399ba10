"""Values as people read them: fixed-point scales, timestamps, enum names in JSON, crypto pairs."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire import layouts
from alphapulse_codec.wire.jsonmap import from_json, to_json
from frames import zeros

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
README = (ROOT / "README.md").read_text()


# ---------------------------------------------------------------- the scale, documented once

def test_the_readme_and_the_package_docstring_agree_on_the_price_scale():
    # $189.25 at the documented 8 decimals
    assert ap.decimal_to_price("189.25") == 18_925_000_000
    assert "189_250_000" not in ap.__doc__
    assert "189_250_000" not in README
    assert "ap.decimal_to_price(\"189.25\")" in ap.__doc__


def test_the_units_table_of_the_spec_is_the_units_of_the_layouts():
    section = PROTOCOL.split("### Units", 1)[1].split("###", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (\S+) \| [^|]* \| [^|]* \| (.*) \|$",
                                                        section, re.M)}
    everywhere = [layouts.HEADER, layouts.INSTRUMENT_ID, *layouts.MESSAGES.values(),
                  *layouts.TLVS.values()]
    for unit in layouts.UNITS:
        documented = set(re.findall(r"`([\w.]+)`", rows[unit]))
        declared = {f"{layout.name}.{f.name}" for layout in everywhere for f in layout.fields
                    if f.unit == unit}
        assert documented == declared, unit
    assert "`Trade.price`" in rows["price"] and "`DeFiSignal.amount_in_q`" in rows["q64.64"]
    assert "`FlashLoanSignal.fee_ppm`" in rows["ppm"] and "`MessageHeader.timestamp`" in rows["timestamp"]


def test_every_layout_table_row_says_how_its_field_reads():
    trade = PROTOCOL.split("### Trade = 1", 1)[1].split("###", 1)[0]
    assert "| 44 | 8 | `price` | i64 | [price](#units) |" in trade
    assert "| 60 | 1 | `side` | u8 | `Side` |" in trade


def test_every_price_like_field_has_a_unit():
    for layout in layouts.MESSAGES.values():
        for f in layout.value_fields:
            if f.name.endswith(("_price", "_bps", "_ppm", "_wei", "_gwei", "_q")) or f.name == "price":
                assert f.unit, f"{layout.name}.{f.name}"


def test_an_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unknown unit 'furlongs'"):
        layouts.Field("x", "u32", "", "furlongs")


# ---------------------------------------------------------------- prices

def test_price_to_decimal_is_exact():
    assert ap.price_to_decimal(18_925_000_000) == Decimal("189.25")
    assert str(ap.price_to_decimal(18_925_000_000)) == "189.25"
    assert format(ap.price_to_decimal(1), "f") == "0.00000001"
    assert str(ap.price_to_decimal(-5 * 10**8)) == "-5"
    assert ap.price_to_decimal(2**63 - 1) == Decimal("92233720368.54775807")


@given(st.integers(-(2**63), 2**63 - 1))
def test_price_round_trips_exactly(raw):
    assert ap.decimal_to_price(ap.price_to_decimal(raw)) == raw
    assert ap.decimal_to_price(str(ap.price_to_decimal(raw))) == raw


def test_decimal_to_price_refuses_what_it_cannot_hold():
    with pytest.raises(ap.FieldValueError, match="more than 8 decimals"):
        ap.decimal_to_price("189.123456789")
    with pytest.raises(ap.FieldValueError, match="outside"):
        ap.decimal_to_price("92233720368.54775808")  # one step past i64
    with pytest.raises(ap.FieldValueError, match="a float is not exact"):
        ap.decimal_to_price(189.25)
    for bad in ("NaN", "Infinity", "12abc", None, True):
        with pytest.raises(ap.FieldValueError):
            ap.decimal_to_price(bad)
    with pytest.raises(ValueError):  # the project's errors are ValueErrors
        ap.decimal_to_price("1e-9")


def test_float_forms_round_to_the_nearest_step():
    assert ap.price_to_float(18_925_000_000) == 189.25
    assert ap.float_to_price(189.25) == 18_925_000_000
    assert ap.float_to_price(0.1) == 10_000_000  # the float nearest 0.1, to the nearest 1e-8
    for bad in (float("nan"), float("inf"), 1e20, "189.25"):
        with pytest.raises(ap.FieldValueError):
            ap.float_to_price(bad)


def test_other_decimal_units():
    assert ap.scaled_to_decimal(3000, "ppm") == Decimal("0.003")
    assert ap.scaled_to_decimal(25, "bps") == Decimal("0.0025")
    assert ap.scaled_to_decimal(10**18, "wei") == 1
    assert ap.decimal_to_scaled("1.5", "gwei") == 1_500_000_000
    with pytest.raises(ap.FieldValueError, match="not a decimal fixed point"):
        ap.scaled_to_decimal(1, "q64.64")
    with pytest.raises(ap.FieldValueError, match="more than 4 decimals"):
        ap.decimal_to_scaled("0.00001", "bps")


# ---------------------------------------------------------------- Q64.64

def test_q64_to_decimal_is_exact():
    assert ap.q64_to_decimal(3 << 63) == Decimal("1.5")
    assert ap.q64_to_decimal(1 << 64) == 1
    assert ap.q64_to_decimal(-(1 << 64)) == -1
    smallest = ap.q64_to_decimal(1)
    assert smallest * 2**64 == 1 and len(format(smallest, "f").split(".")[1]) == 64
    assert ap.q64_to_float(3 << 63) == 1.5
    assert ap.decimal_to_q64("1.5") == 3 << 63
    assert ap.decimal_to_q64(ap.q64_to_decimal(2**128 - 1)) == 2**128 - 1
    with pytest.raises(ap.FieldValueError):
        ap.q64_to_decimal(2**128)
    with pytest.raises(ap.FieldValueError):
        ap.decimal_to_q64("1e40")


def test_a_decoded_defi_signal_reads_as_numbers():
    signal = ap.decode(ap.DeFiSignal.encode(**(zeros(ap.DeFiSignal) | {
        "expected_profit_q": ap.decimal_to_q64("12.25")}), sequence=1))
    assert ap.q64_to_decimal(signal.expected_profit_q) == Decimal("12.25")


# ---------------------------------------------------------------- timestamps

def test_timestamps_to_datetime_and_back():
    moment = ap.timestamp_to_datetime(1_700_000_000_123_456_789)
    assert moment == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert ap.datetime_to_timestamp(moment) == 1_700_000_000_123_456_000
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert ap.datetime_to_timestamp(paris) == 1_700_000_000_123_456_000
    with pytest.raises(ap.FieldValueError, match="naive"):
        ap.datetime_to_timestamp(datetime(2023, 11, 14))
    with pytest.raises(ap.FieldValueError, match="before 1970|outside"):
        ap.datetime_to_timestamp(datetime(1969, 12, 31, tzinfo=timezone.utc))
    assert ap.timestamp_to_datetime(2**64 - 1).year == 2554  # every u64 timestamp fits
    with pytest.raises(ap.FieldValueError, match="outside"):
        ap.timestamp_to_datetime(-1)


def test_timestamps_to_datetime64_keep_nanoseconds():
    value = ap.timestamp_to_datetime64(1_700_000_000_123_456_789)
    assert value == np.datetime64("2023-11-14T22:13:20.123456789", "ns")
    assert ap.datetime64_to_timestamp(value) == 1_700_000_000_123_456_789
    many = ap.timestamp_to_datetime64(np.array([0, 1_700_000_000_123_456_789], dtype=np.uint64))
    assert many.dtype == np.dtype("datetime64[ns]")
    assert ap.datetime64_to_timestamp(many).tolist() == [0, 1_700_000_000_123_456_789]
    assert ap.datetime64_to_timestamp(np.datetime64("2023-11-14", "D")) == 1_699_920_000_000_000_000
    with pytest.raises(ap.FieldValueError, match="2262"):
        ap.timestamp_to_datetime64(2**63)
    with pytest.raises(ap.FieldValueError, match="NaT"):
        ap.datetime64_to_timestamp(np.datetime64("NaT"))
    with pytest.raises(ap.FieldValueError, match="2262"):
        ap.datetime64_to_timestamp(np.datetime64("3000-01-01", "D"))


# ---------------------------------------------------------------- enum names in JSON

BUY = ap.Trade.encode(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                      price=18_925_000_000, volume=100, side=ap.Side.Buy, sequence=7,
                      timestamp=1_700_000_000_000_000_000, source=ap.SourceType.AlpacaCollector)


def test_json_keeps_numbers_by_default_and_gives_names_on_request():
    plain = to_json(ap.decode(BUY))
    assert plain["side"] == 1 and plain["header"]["source"] == 5
    named = to_json(ap.decode(BUY), names=True)
    assert named["side"] == "Buy"
    assert named["header"]["source"] == "AlpacaCollector"
    assert named["header"]["message_type"] == "Trade"
    assert named["instrument_id"] == {"venue": "NASDAQ", "asset_type": "Stock", "reserved": 0,
                                      "asset_id": 0x4141504C00000000}
    unnamed = ap.Trade.encode(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                              price=1, volume=1, side=9, sequence=1)
    assert to_json(ap.decode(unnamed), names=True)["side"] == 9  # no member: the number


def test_json_input_takes_names_in_any_case():
    named = to_json(ap.decode(BUY), names=True)
    assert from_json(named) == BUY
    shouted = json.loads(json.dumps(named).replace('"Buy"', '"BUY"').replace('"NASDAQ"', '"nasdaq"'))
    assert from_json(shouted) == BUY
    with pytest.raises(ap.FieldValueError, match="'Hold' is not a Side name: expected one of Buy, Sell"):
        from_json({**named, "side": "Hold"})
    with pytest.raises(ap.FieldValueError, match="header.source"):
        from_json({**named, "header": {**named["header"], "source": "Nobody"}})


def test_enum_names_differ_in_more_than_case():
    enums = {f.enum for layout in [layouts.HEADER, layouts.INSTRUMENT_ID, *layouts.MESSAGES.values()]
             for f in layout.fields if f.enum is not None}
    for enum in enums:
        folded = [m.name.casefold() for m in enum]
        assert len(folded) == len(set(folded)), enum


def test_cli_decode_names_and_encode_reads_them(tmp_path, capsys):
    from alphapulse_codec.cli import main

    capture = tmp_path / "one.bin"
    capture.write_bytes(BUY)
    assert main(["decode", str(capture), "--names"]) == 0
    line = capsys.readouterr().out
    assert '"side":"Buy"' in line and '"source":"AlpacaCollector"' in line
    assert main(["decode", str(capture)]) == 0
    assert '"side":1' in capsys.readouterr().out
    jsonl = tmp_path / "named.jsonl"
    jsonl.write_text(line.replace('"Buy"', '"buy"'))
    assert main(["encode", "--from-jsonl", str(jsonl), "-o", str(tmp_path / "back.bin")]) == 0
    assert (tmp_path / "back.bin").read_bytes() == BUY


# ---------------------------------------------------------------- crypto pairs

def test_crypto_pair_ids():
    eth = ap.InstrumentId.crypto(ap.VenueId.Binance, "ETH", "USDT")
    assert eth.asset_type == ap.AssetType.CryptoSpot and eth.venue == ap.VenueId.Binance
    assert eth.pair == ("ETH", "USDT")
    assert eth.debug_info() == "Binance CryptoSpot: ETH/USDT"
    assert ap.InstrumentId.crypto(ap.VenueId.Binance, "eth", "usdt") == eth
    assert eth != ap.InstrumentId.crypto(ap.VenueId.Binance, "ETHU", "SDT")  # the split counts
    assert eth != ap.InstrumentId.crypto(ap.VenueId.Kraken, "ETH", "USDT")
    assert ap.InstrumentId.crypto(ap.VenueId.Binance, "MATIC", "USDT").pair == ("MATIC", "USDT")
    assert ap.InstrumentId.from_key(eth.key) == eth


@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=9),
       st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=9))
def test_crypto_pairs_read_back(base, quote):
    if len(base + quote) > 10:
        with pytest.raises(ap.FieldValueError, match="10 characters"):
            ap.InstrumentId.crypto(ap.VenueId.Coinbase, base, quote)
    else:
        assert ap.InstrumentId.crypto(ap.VenueId.Coinbase, base, quote).pair == (base, quote)


@pytest.mark.parametrize("base, quote", [("", "USDT"), ("ETH", ""), ("ET-H", "USDT"),
                                         ("ÉTH", "USD"), ("ß", "USD"), (None, "USD"),
                                         ("ETH", b"USD")])
def test_crypto_refuses_bad_codes(base, quote):
    with pytest.raises(ap.FieldValueError, match="InstrumentId.crypto"):
        ap.InstrumentId.crypto(ap.VenueId.Binance, base, quote)


def test_the_readme_reads_its_trade_as_people_do():
    block = re.search(r"## Use\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace = {"capture_bytes": b""}
    exec(compile(block, "README.md", "exec"), namespace)
    expression, shown = re.search(r"^(ap\.price_to_decimal\(.*)\n# (.*)$", block, re.M).groups()
    assert repr(eval(expression, namespace)) == shown
