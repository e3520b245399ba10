"""The codec and its peers doing the same work, shared by compare.py and the pytest benchmarks.

Each case is a dict of name -> zero-argument callable; the entries named alphapulse_codec are
the codec's, the rest are what a service would otherwise write or install.
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
_CHECKSUM = struct.Struct("<I")
MEBIBYTE = bytes(range(256)) * 4096


# ------------------------------------------------- whole messages: every field, on every side
#
# For each type, every side reads (or builds from) the same values: the header's sequence,
# timestamp and source, the instrument ID's venue, asset_type and asset_id, and every body
# field, each into a local, returned as one tuple. The readers are straight-line code, written
# out per type below, so that no side pays for a loop or a getattr the others do not.

WHOLE_TYPES = ("Trade", "Quote", "OrderRequest", "Fill")
_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i8": "b", "i16": "h",
                 "i32": "i", "i64": "q"}
# what the struct + zlib side checks of a frame, as the codec's decode does: magic, size, CRC
STRUCT_CHECK = ["f = layout.unpack_from(data, 0)",
                "if f[0] != 0xDEADBEEF or len(data) != 32 + f[5]:",
                "    raise ValueError('bad frame')",
                "if crc32(data[32:], crc32(data[:28])) != f[8]:",
                "    raise ValueError('checksum mismatch')"]
_HEADER_NAMES = ("sequence", "timestamp", "source")
_IID_PARTS = ("venue", "asset_type", "asset_id")


class Whole:
    """The codec, msgspec and struct + zlib set up for message type `name`."""

    def __init__(self, name: str) -> None:
        self.cls = getattr(ap, name)
        layout = self.cls.layout
        body = [f for f in layout.value_fields if f.name not in layout.derived_fields]
        self.ints = [f.name for f in body if f.kind == "int"]
        (self.iid,) = [f.name for f in body if f.kind == "instrument_id"]
        # realistic magnitudes: 8-byte fields take prices and IDs of 11 digits
        self.values = {f.name: {1: 1, 2: 300, 4: 70000, 8: 18925000000}[f.size] + i
                       for i, f in enumerate(f for f in body if f.kind == "int")}
        self.values.update(sequence=42, timestamp=1700000000123456789, source=5)
        self.frame = self.cls.encode(**{self.iid: INSTRUMENT}, **self.values)
        # the flat names every side reads, in the order every side returns them
        self.names = [*_HEADER_NAMES, *_IID_PARTS, *self.ints]
        self.struct_layout = struct.Struct("<IBBBBIQQI" + "".join(
            "HBBQ" if f.kind == "instrument_id" else
            f"{f.size}x" if f.kind == "pad" else _STRUCT_CODES[f.type] for f in layout.fields))
        self.struct_head = struct.Struct("<IBBBBIQQ")
        self.struct_body = struct.Struct("<" + self.struct_layout.format[10:])
        self.spec = msgspec.defstruct(f"Msgspec{name}", [(n, int) for n in self.names],
                                      array_like=True)
        self.packed = msgspec.msgpack.encode(self.spec(**self.all_values()))
        self.decoder = msgspec.msgpack.Decoder(self.spec)
        self.encoder = msgspec.msgpack.Encoder()
        # where each value sits in the unpacked struct tuple (pads take none)
        index, self.struct_index = 9, {}
        for f in layout.fields:
            if f.kind == "instrument_id":
                for part, at in zip(_IID_PARTS, (0, 1, 3)):
                    self.struct_index[part] = index + at
                index += 4
            elif f.kind != "pad":
                self.struct_index[f.name] = index
                index += 1
        self.struct_index.update(sequence=6, timestamp=7, source=3)
        self.namespace = {"decode": ap.decode, "astuple": ap.astuple, "cls": self.cls, "iid": INSTRUMENT,
                          "crc32": zlib.crc32, "layout": self.struct_layout,
                          "head": self.struct_head, "body": self.struct_body,
                          "checksum": _CHECKSUM, "decoder": self.decoder.decode,
                          "encode": self.encoder.encode, "spec": self.spec, "size": len(self.frame),
                          "message_type": int(self.cls.message_type)}

    def all_values(self) -> dict[str, int]:
        return {**dict(zip(_IID_PARTS, (INSTRUMENT.venue, INSTRUMENT.asset_type,
                                        INSTRUMENT.asset_id))), **self.values}

    def _function(self, name: str, lines: list[str]) -> Callable[..., object]:
        exec("\n".join([f"def {name}(data):"] + [f"    {line}" for line in lines]), self.namespace)
        return self.namespace.pop(name)

    def _returned(self, where: dict[str, str]) -> str:
        return "return (" + ", ".join(where[n] for n in self.names) + ",)"

    def read_getters(self) -> Callable[..., object]:
        where = {n: f"m.{n}" for n in (*_HEADER_NAMES, *self.ints)}
        where.update({part: f"i.{part}" for part in _IID_PARTS})
        return self._function("ours", ["m = decode(data)", f"i = m.{self.iid}",
                                       self._returned(where)])

    def read_astuple(self) -> Callable[..., object]:
        names = ["magic", "message_type", "version", "source", "flags", "payload_size",
                 "sequence", "timestamp", "checksum"] + [f.name for f in self.cls.layout.value_fields]
        at = {n: f"t[{i}]" for i, n in enumerate(names) if n in (*_HEADER_NAMES, *self.ints)}
        at.update({part: f"i.{part}" for part in _IID_PARTS})
        return self._function("ours", ["t = astuple(decode(data))",
                                       f"i = t[{names.index(self.iid)}]", self._returned(at)])

    def read_msgspec(self) -> Callable[..., object]:
        return self._function("peer", ["m = decoder(data)",
                                       self._returned({n: f"m.{n}" for n in self.names})])

    def read_struct(self) -> Callable[..., object]:
        return self._function("peer", STRUCT_CHECK + [
            self._returned({n: f"f[{i}]" for n, i in self.struct_index.items()})])

    def _arguments(self) -> str:
        return ", ".join(f"{n}={v!r}" for n, v in self.values.items())

    def build_ours(self) -> Callable[..., object]:
        return self._function("ours", [f"return cls.encode({self.iid}=iid, {self._arguments()})"])

    def build_msgspec(self) -> Callable[..., object]:
        values = self.all_values()
        parts = ", ".join(f"{n}={values[n]!r}" for n in self.names)
        return self._function("peer", [f"return encode(spec({parts}))"])

    def build_struct(self) -> Callable[..., object]:
        args = []
        for f in self.cls.layout.fields:
            if f.kind == "instrument_id":
                args += ["iid.venue", "iid.asset_type", "0", "iid.asset_id"]
            elif f.kind != "pad":
                args.append(repr(self.values[f.name]))
        return self._function("peer", [
            f"b = body.pack({', '.join(args)})",
            f"h = head.pack(0xDEADBEEF, message_type, 1, {self.values['source']}, 0, len(b),"
            f" {self.values['sequence']}, {self.values['timestamp']})",
            "return h + checksum.pack(crc32(b, crc32(h))) + b"])


def whole_cases(name: str) -> dict[str, dict[str, Callable[[], object]]]:
    """Per case of type `name`: the codec first, then its peers, doing the same work."""
    w = Whole(name)
    frame, packed = w.frame, w.packed
    one = w.ints[0] if name != "Trade" else "price"
    one_index = w.struct_index[one]
    one_ours = w._function("ours", [f"return decode(data).{one}"])
    one_struct = w._function("peer", STRUCT_CHECK + [f"return f[{one_index}]"])
    one_msgspec = w._function("peer", [f"return decoder(data).{one}"])
    # partials: each side is one C call into its function, with no Python frame in between
    frame, packed, call = w.frame, w.packed, functools.partial
    return {
        f"{name}: decode + verify, read {one}": {
            "alphapulse_codec decode, getter": call(one_ours, frame),
            "struct.unpack_from + zlib.crc32": call(one_struct, frame),
            "msgspec msgpack decode": call(one_msgspec, packed),
        },
        f"{name}: decode + verify, read every field": {
            "alphapulse_codec decode, getters": call(w.read_getters(), frame),
            "alphapulse_codec decode, ap.astuple()": call(w.read_astuple(), frame),
            "struct.unpack_from + zlib.crc32": call(w.read_struct(), frame),
            "msgspec msgpack decode": call(w.read_msgspec(), packed),
        },
        f"{name}: build from every field": {
            "alphapulse_codec encode": call(w.build_ours(), None),
            "struct.pack + zlib.crc32": call(w.build_struct(), None),
            "msgspec msgpack encode": call(w.build_msgspec(), None),
        },
    }


def all_cases() -> dict[str, dict[str, Callable[[], object]]]:
    cases = {}
    for name in WHOLE_TYPES:
        cases.update(whole_cases(name))
    cases["crc32 1 MiB"] = crc_cases(2**20)
    cases["crc32 64 B"] = crc_cases(64)
    return cases


def check_whole_cases() -> None:
    """Every side of every case gives the same values (or frames that decode to them)."""
    for name in WHOLE_TYPES:
        w = Whole(name)
        expected = tuple(w.all_values()[n] for n in w.names)
        for reader, data in ((w.read_getters(), w.frame), (w.read_astuple(), w.frame),
                             (w.read_struct(), w.frame), (w.read_msgspec(), w.packed)):
            assert reader(data) == expected, (name, reader)
        assert w.build_ours()(None) == w.frame == w.build_struct()(None), name
        assert w.read_msgspec()(w.build_msgspec()(None)) == expected, name


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
