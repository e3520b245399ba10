"""The wire core: frame layouts, the compiled codec (checks, CRC-32, IDs, TLVs, message
views and builders, the nogil batch loop), enums, errors, numpy dtypes, the JSON mapping and
the conversions of values to the forms people read (values.py: prices, Q64.64, timestamps).

Everything above it (schemas, capture, cli) stands on this layer; it imports none of them.
"""
from ._codec import (
    DEFAULT_MAX_FRAME_SIZE,
    MESSAGE_CLASSES,
    BookLevel,
    FrameIterator,
    Header,
    InstrumentId,
    Message,
    RuntimeMessage,
    asdict,
    astuple,
    crc32,
    crc32_implementation,
    decode,
    find_tlv,
    iter_frames,
    parse_tlvs,
)
from .dtypes import int128_to_int, layout_dtype
from .jsonmap import from_json, to_json

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE", "MESSAGE_CLASSES", "BookLevel", "FrameIterator", "Header",
    "InstrumentId", "Message", "RuntimeMessage", "asdict", "astuple", "crc32", "crc32_implementation", "decode",
    "find_tlv", "iter_frames", "parse_tlvs", "int128_to_int", "layout_dtype", "from_json",
    "to_json",
]
