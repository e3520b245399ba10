"""The layouts, the C structs and the numpy dtypes agree, and the generated files are current."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import alphapulse_codec as ap
from alphapulse_codec.wire import _codec
from alphapulse_codec.wire.layouts import (DECIDED_SIZES, HEADER, HEADER_SIZE, INSTRUMENT_ID,
                                           MESSAGES,
                                      TLVS)

ROOT = Path(__file__).resolve().parent.parent
C_OFFSETS = _codec.layout_offsets()


def c_size(struct: str) -> int:
    return max(offset + size for (name, _), (offset, size) in C_OFFSETS.items() if name == struct)


def test_sizes_are_the_decided_ones():
    sizes = {HEADER.name: HEADER.size, INSTRUMENT_ID.name: INSTRUMENT_ID.size}
    sizes.update({m.struct_name: m.frame_size for m in MESSAGES.values()})
    sizes.update({t.name: t.size for t in TLVS.values()})
    for struct, size in DECIDED_SIZES.items():
        assert sizes[struct] == size, struct
        assert c_size(f"{struct}_t") == size, struct


def test_tlv_lengths_are_the_decided_ones():
    assert {t.name: t.payload_size for t in TLVS.values()} == {
        "PoolAddressTLV": 42, "TertiaryVenueTLV": 30, "MEVBundleTLV": 43}


@pytest.mark.parametrize("layout", MESSAGES.values(), ids=lambda m: m.name)
def test_c_offsets_equal_the_layout_and_the_dtype(layout):
    struct = f"{layout.struct_name}_t"
    dtype = ap.dtype(layout.message_type)
    assert dtype.itemsize == layout.frame_size == c_size(struct)
    assert C_OFFSETS[(struct, "header")] == (0, HEADER_SIZE)
    for f in layout.fields:
        assert C_OFFSETS[(struct, f.name)] == (HEADER_SIZE + f.offset, f.size), f.name
        if not f.is_padding:
            field_dtype, offset = dtype.fields[f.name][:2]
            assert (offset, field_dtype.itemsize) == (HEADER_SIZE + f.offset, f.size), f.name
    for f in HEADER.fields:
        assert C_OFFSETS[("MessageHeader_t", f.name)] == (f.offset, f.size)
        assert dtype["header"].fields[f.name][1] == f.offset


def test_every_field_of_the_c_structs_is_in_the_layouts():
    known = {(f"{m.struct_name}_t", f.name) for m in MESSAGES.values() for f in m.fields}
    known |= {(f"{m.struct_name}_t", "header") for m in MESSAGES.values()}
    known |= {("MessageHeader_t", f.name) for f in HEADER.fields}
    known |= {("InstrumentId_t", f.name) for f in INSTRUMENT_ID.fields}
    known |= {(f"{t.name}_t", f.name) for t in TLVS.values() for f in t.fields}
    assert set(C_OFFSETS) == known


def test_generated_files_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "generate.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_domains_follow_the_type_ranges():
    assert ap.Domain.of(ap.MessageType.Trade) is ap.Domain.MarketData
    assert ap.Domain.of(ap.MessageType.DeFiSignal) is ap.Domain.Signal
    assert ap.Domain.of(ap.MessageType.Fill) is ap.Domain.Execution
    assert ap.Domain.of(ap.MessageType.ConfigUpdate) is ap.Domain.System
    assert ap.Domain.of(201) is ap.Domain.Custom
    assert ap.Domain.of(60) is None
    for message_type in MESSAGES:
        assert ap.Domain.of(message_type) is not None


def test_enums_name_what_the_design_names():
    for name in ("Binance", "Kraken", "Coinbase", "Polygon", "Alpaca", "NYSE", "NASDAQ",
                 "Ethereum", "UniswapV2", "UniswapV3", "SushiSwap", "Curve"):
        assert name in ap.VenueId.__members__
    for name in ("Stock", "Token", "Pool"):
        assert name in ap.AssetType.__members__
    assert ap.MessageType.Custom == 200 and ap.SourceType.External == 100
    assert [ap.TLVType.PoolAddresses, ap.TLVType.TertiaryVenue, ap.TLVType.MEVBundle] == [1, 2, 3]
