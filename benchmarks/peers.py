"""The codec and its peers doing the same work, shared by compare.py and the pytest benchmarks.

Each case is a dict of name -> zero-argument callable; the first entry is alphapulse_codec,
the rest are what a service would otherwise write or install.
"""
from __future__ import annotations

import functools
import platform
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec
from isal import isal_zlib
from zlib_ng import zlib_ng

import alphapulse_codec as ap

INSTRUMENT = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL")
FIELDS = dict(instrument_id=INSTRUMENT, price=18925000000, volume=100, side=1, flags=0,
              sequence=42, timestamp=1700000000123456789, source=5)
TRADE_FRAME = ap.Trade.encode(**FIELDS)

# The hand-written baseline: struct for the layout, zlib for the checksum.
_HEAD = struct.Struct("<IBBBBIQQ")
_CHECKSUM = struct.Struct("<I")
_BODY = struct.Struct("<HBBQqQBB2x")
_FRAME = struct.Struct("<IBBBBIQQIHBBQqQBB2x")


def struct_build(sequence: int, timestamp: int, price: int, volume: int) -> bytes:
    head = _HEAD.pack(0xDEADBEEF, 1, 1, 5, 0, 32, sequence, timestamp)
    body = _BODY.pack(INSTRUMENT.venue, INSTRUMENT.asset_type, 0, INSTRUMENT.asset_id, price,
                      volume, 1, 0)
    return head + _CHECKSUM.pack(zlib.crc32(body, zlib.crc32(head))) + body


def struct_decode_price(frame: bytes) -> int:
    fields = _FRAME.unpack_from(frame, 0)
    if fields[0] != 0xDEADBEEF:
        raise ValueError("bad magic")
    if zlib.crc32(frame[32:64], zlib.crc32(frame[:28])) != fields[8]:
        raise ValueError("checksum mismatch")
    return fields[13]


class MsgspecTrade(msgspec.Struct, array_like=True):
    venue: int
    asset_type: int
    asset_id: int
    price: int
    volume: int
    side: int
    flags: int
    sequence: int
    timestamp: int
    source: int


_MSGPACK_TRADE = msgspec.msgpack.encode(MsgspecTrade(
    INSTRUMENT.venue, INSTRUMENT.asset_type, INSTRUMENT.asset_id, FIELDS["price"],
    FIELDS["volume"], 1, 0, FIELDS["sequence"], FIELDS["timestamp"], 5))
_MSGPACK_DECODER = msgspec.msgpack.Decoder(MsgspecTrade)
MEBIBYTE = bytes(range(256)) * 4096


def decode_cases() -> dict[str, Callable[[], object]]:
    decode, frame = ap.decode, TRADE_FRAME
    msgpack_decode, packed = _MSGPACK_DECODER.decode, _MSGPACK_TRADE
    return {
        "alphapulse_codec decode+verify": lambda: decode(frame).price,
        "struct.unpack_from + zlib.crc32": lambda: struct_decode_price(frame),
        "msgspec msgpack decode": lambda: msgpack_decode(packed).price,
    }


def build_cases() -> dict[str, Callable[[], object]]:
    encode, iid = ap.Trade.encode, INSTRUMENT
    return {
        "alphapulse_codec Trade.encode": lambda: encode(
            instrument_id=iid, price=18925000000, volume=100, side=1, flags=0, sequence=42,
            timestamp=1700000000123456789, source=5),
        "struct.pack + zlib.crc32": lambda: struct_build(42, 1700000000123456789, 18925000000, 100),
    }


def crc_cases(size: int) -> dict[str, Callable[[], object]]:
    """crc32 of `size` bytes; each a partial, called with no Python frame in between, so that
    the call itself is timed."""
    data = MEBIBYTE[:size]
    return {
        "alphapulse_codec crc32": functools.partial(ap.crc32, data),
        "zlib.crc32": functools.partial(zlib.crc32, data),
        "ISA-L isal_zlib.crc32": functools.partial(isal_zlib.crc32, data),
        "zlib-ng zlib_ng.crc32": functools.partial(zlib_ng.crc32, data),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
