"""The frames a relay and its clients exchange besides data: hello, welcome, gap notice,
statistics and errors, and the 256-bit subscription masks a hello carries."""
from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any

from ..wire._codec import MESSAGE_CLASSES
from ..wire.enums import RELAY_DOMAINS, MessageType, RelayFlags, Severity, SourceType
from ..wire.errors import FieldValueError, LayoutConflictError
from ..wire.layouts import RELAY_CONNECTION_STATS, Layout
from .policy import DOMAINS, DomainPolicy

PROTOCOL_VERSION = 1
MAX_NAME_BYTES = 64
EVERYTHING = b"\xff" * 32

DOMAIN_NUMBERS = RELAY_DOMAINS
DOMAIN_NAMES = {int(number): name for name, number in DOMAIN_NUMBERS.items()}
# the source a relay writes its own frames as
RELAY_SOURCES = {"market_data": SourceType.MarketDataRelay, "signals": SourceType.SignalRelay,
                 "execution": SourceType.ExecutionRelay, "system": SourceType.SystemRelay}
CONTROL_TYPES = frozenset({MessageType.RelayHello, MessageType.RelayWelcome,
                           MessageType.GapNotice, MessageType.RelayStats})

_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q",
                 "i8": "b", "i16": "h", "i32": "i", "i64": "q"}


def mask(values: Iterable[int | str] | int | str | None, what: str) -> bytes:
    """The 32-byte bit mask of ``values`` (0-255, or names; one alone as itself, as the other
    transports take it); every bit set for None."""
    if values is None:
        return EVERYTHING
    if isinstance(values, (str, int)):
        values = [values]
    bits = bytearray(32)
    for value in values:
        number = _number(value, what)
        bits[number >> 3] |= 1 << (number & 7)
    return bytes(bits)


def check_domain_types(domain: str, values: Any) -> Any:
    """Refuse, in the ``types`` a consumer of ``domain`` subscribes to, a built-in type of
    another domain: its relay refuses such frames, so the subscription would wait for frames
    that never come. Run-time schema types (and names this module does not know) are left to
    the transport: their schema says which domain they belong to. Returns the types to
    subscribe to: an iterable of them as a list, read here already."""
    if values is not None and not isinstance(values, (str, int)):
        values = list(values)
    if values is None or domain not in DOMAINS:  # an unknown domain is refused on its own
        return values
    span = DOMAINS[domain]
    for value in [values] if isinstance(values, (str, int)) else values:
        try:
            found = MessageType[value] if isinstance(value, str) else MessageType(value)
        except (KeyError, ValueError):
            continue
        owner = next((name for name, types in DOMAINS.items() if found in types), domain)
        if owner != domain and found != MessageType.SchemaAnnouncement:  # every relay's
            raise FieldValueError(f"types: {found.name} is {article(owner)} {owner} type"
                                  f" ({int(found)}), not {article(domain)} {domain} type"
                                  f" ({span.start}-{span.stop - 1})", field="types")
    return values


def article(word: str) -> str:
    """The indefinite article before `word`: "an execution type", "a signals type"."""
    return "an" if word[:1] in tuple("aeiou") else "a"


def mask_values(bits: bytes) -> list[int]:
    return [n for n in range(256) if bits[n >> 3] >> (n & 7) & 1]


def _number(value: Any, what: str) -> int:
    if isinstance(value, str):
        try:
            return int(MessageType[value]) if what == "types" else int(SourceType[value])
        except KeyError:
            raise FieldValueError(f"{what}: {value!r} names no "
                                  f"{'MessageType' if what == 'types' else 'SourceType'}",
                                  field=what) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise FieldValueError(f"{what}: {value!r} is not a number from 0 to 255", field=what)
    return int(value)


def _build(message_type: MessageType, **fields: Any) -> bytes:
    frame: bytes = MESSAGE_CLASSES[message_type].encode(timestamp=time.time_ns(), **fields)
    return frame


def policy_flags(policy: DomainPolicy) -> int:
    return ((RelayFlags.ValidateChecksums if policy.validate_checksums else 0)
            | (RelayFlags.RequireSequence if policy.require_sequence else 0)
            | (RelayFlags.BlockProducers if policy.overflow == "block" else 0))


def hello(role: int, *, type_mask: bytes = EVERYTHING, source_mask: bytes = EVERYTHING,
          producer_source: int = 0, name: str = "", hello_flags: int = 0, pid: int = 0) -> bytes:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise FieldValueError(f"name: {len(name.encode())} bytes, at most {MAX_NAME_BYTES}",
                              field="name")
    return _build(MessageType.RelayHello, protocol_version=PROTOCOL_VERSION, role=role,
                  hello_flags=hello_flags, client_pid=pid, type_mask=type_mask,
                  source_mask=source_mask, producer_source=producer_source, name=name)


def welcome(policy: DomainPolicy, *, status: int, connection_id: int, max_frame_size: int,
            next_sequence: int = 0, reason: str = "", sequence: int = 0) -> bytes:
    return _build(MessageType.RelayWelcome, protocol_version=PROTOCOL_VERSION,
                  domain=DOMAIN_NUMBERS[policy.domain], status=status,
                  connection_id=connection_id, max_frame_size=max_frame_size,
                  policy_flags=policy_flags(policy), next_sequence=next_sequence,
                  reason=reason, source=RELAY_SOURCES[policy.domain], sequence=sequence)


def gap_notice(domain: str, *, gap_source: int, reason: int, first: int, last: int, lost: int,
               sequence: int = 0) -> bytes:
    return _build(MessageType.GapNotice, gap_source=gap_source, reason=reason,
                  first_sequence=first, last_sequence=last, frames_lost=lost,
                  source=RELAY_SOURCES[domain], sequence=sequence)


def error(domain: str, *, code: int, related_type: int, related_sequence: int, text: str,
          sequence: int = 0) -> bytes:
    return _build(MessageType.Error, code=code, related_type=related_type,
                  severity=Severity.Error, related_sequence=related_sequence,
                  text=text[:1000], source=RELAY_SOURCES[domain], sequence=sequence)


def _record_struct(layout: Layout) -> struct.Struct:
    codes = []
    for f in layout.fields:
        if f.kind == "int":
            codes.append(_STRUCT_CODES[f.type])
        elif f.kind == "pad":
            codes.append(f"{f.size}x")
        else:
            codes.append(f"{f.size}s")
    packer = struct.Struct("<" + "".join(codes))
    if packer.size != layout.size:
        raise LayoutConflictError(f"{layout.name}: struct of {packer.size} bytes for {layout.size}")
    return packer


CONNECTION_RECORD = _record_struct(RELAY_CONNECTION_STATS)
CONNECTION_FIELDS = tuple(f.name for f in RELAY_CONNECTION_STATS.value_fields)


def connection_records(records: bytes) -> list[dict[str, Any]]:
    """The RelayConnectionStats records of a RelayStats tail, as dicts."""
    size = CONNECTION_RECORD.size
    if len(records) % size:
        raise FieldValueError(f"records: {len(records)} bytes is not a whole number of"
                              f" {size}-byte records", field="records")
    out = []
    for at in range(0, len(records), size):
        row = dict(zip(CONNECTION_FIELDS, CONNECTION_RECORD.unpack_from(records, at)))
        row["name"] = row["name"].rstrip(b"\0").decode("utf-8", "replace")
        out.append(row)
    return out
