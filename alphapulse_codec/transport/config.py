"""Which transport carries each domain, read from the configuration file in the shapes of the
design's migration stages (docs/transports.md, "Configuration", lists every key):

    alphapulse:
      transport: mixed            # or unix_socket (stage 1), message_bus (stage 3), or any
      market_data:                # one transport for every domain
        type: shared_memory       # a domain's own transport: type or transport
        size_mb: 64
      execution:
        transport: nats
        servers: ["nats://trading1:4222", "nats://trading2:4222"]
        subject_prefix: alphapulse.market

The transport keys are read here; the relay's policy keys (max_queue_size, overflow, ...) are
handed to the relay's configuration, which refuses what neither knows, by its key path. The
result is one Endpoint per domain: its transport, the options of that transport's client and
the domain's policy.
"""
from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ..relay.config import (_DOMAIN_KEYS, MAX_QUEUE_FRAMES, RelaysConfig, _document, _kind,
                            _root, _Section, _text, _whole, config_from)
from ..relay.policy import DOMAINS, DomainPolicy
from ..wire.errors import FieldValueError
from . import nats as nats_transport
from . import redis_streams
from .shm import DEFAULT_SIZE_MB, WAITS, _capacity, ring_path

# the keys of a domain's section each transport reads, besides the relay's policy keys
TRANSPORT_KEYS: dict[str, tuple[str, ...]] = {
    "unix_socket": ("path",),
    "tcp": ("host", "port", "certfile", "keyfile", "cafile"),
    "channel": ("capacity",),
    "shared_memory": ("path", "size_mb", "wait"),
    "nats": ("servers", "subject_prefix", "jetstream", "capacity", "batch_frames",
             "batch_bytes"),
    "redis": ("url", "stream_prefix", "capacity", "batch_frames", "batch_bytes"),
}
BATCHING = ("batch_frames", "batch_bytes")  # a bus producer's keys, not its consumers'
MAX_BATCH_BYTES = 1 << 30
TRANSPORTS = tuple(TRANSPORT_KEYS)
RELAYED = ("unix_socket", "tcp")  # the transports whose frames go through a domain relay
SPELLINGS = {"channels": "channel"}  # the design's stage 2 writes `type: channels`
MIXED, MESSAGE_BUS = "mixed", "message_bus"
BUSES = ("nats", "redis")
DEPLOYMENTS = ("single-machine", "distributed")
DEFAULT_TRANSPORT = "unix_socket"
DEFAULT_TCP_HOST = "127.0.0.1"
# keys of the top of the file: the mode, and the bus's servers shared by its domains
_TOP_KEYS = ("transport", "deployment", "bus", "servers", "subject_prefix", "url",
             "stream_prefix")
_SHARED = {"servers": "nats", "subject_prefix": "nats", "url": "redis", "stream_prefix": "redis"}
_CHOOSERS = ("transport", "type")
_EVERY_KEY = tuple(dict.fromkeys(k for keys in TRANSPORT_KEYS.values() for k in keys))
_NATS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class Endpoint:
    """Where one domain's frames go: its `transport` (one of TRANSPORTS), the keyword
    `options` of that transport's client as the file set them (defaults filled in), and the
    domain's `policy` (the relay's keys: queue bound, overflow, checksums)."""

    domain: str
    transport: str
    options: Mapping[str, Any]
    policy: DomainPolicy

    def where(self) -> str:
        """Where the frames go, in words: socket path, ring, servers and subjects, stream."""
        o = self.options
        if self.transport == "unix_socket":
            return str(self.policy.path)
        if self.transport == "shared_memory":
            return f"ring {o['path']}, {o['size_mb']:g} MiB, {o['policy']}"
        kept = f", capacity {o['capacity']:,} frames" if "capacity" in o else ""
        kept += "".join(f", {key} {o[key]:,}" for key in BATCHING if key in o)
        if self.transport == "nats":
            if "capacity" in o:  # a JetStream stream's limit, in messages; core NATS keeps none
                kept = kept.replace(" frames", " messages" if o["jetstream"] else
                                    " (unused: core NATS keeps nothing, JetStream would)")
            return (f"{', '.join(o['servers'])}, subjects"
                    f" {nats_transport.subject(o['subject_prefix'], self.domain)}"
                    + (" (JetStream)" if o["jetstream"] else "") + kept)
        if self.transport == "redis":
            return (f"{o['url']}, stream {redis_streams.stream_key(o['prefix'], self.domain)}"
                    + kept)
        if self.transport == "tcp":
            tls = " (TLS)" if o.get("certfile") or o.get("cafile") else ""
            host = f"[{o['host']}]" if ":" in o["host"] else o["host"]
            return f"{host}:{o['port']}{tls}"
        return "in-process" + kept


@dataclass(frozen=True)
class TransportsConfig:
    """Every domain's Endpoint, by name, and the relays' configuration (runtime directory,
    socket group, policies) the unix_socket domains run with."""

    endpoints: Mapping[str, Endpoint]
    relays: RelaysConfig
    source: str | None = None


Source = str | os.PathLike[str] | Mapping[str, Any]


def load_config(source: Source, *, runtime_dir: str | os.PathLike[str] | None = None
                ) -> TransportsConfig:
    """The transports of a YAML file (or of a mapping already read): every domain's
    Endpoint. A domain names no transport: the file's top ``transport``, else unix_socket.
    Raises ConfigError naming the file, line and key at fault."""
    return config_from_document(*_document(source), runtime_dir=runtime_dir)


def config_from_document(document: Any, source: str | None = None, *,
                         runtime_dir: str | os.PathLike[str] | None = None
                         ) -> TransportsConfig:
    """The transports of a YAML document already read from `source`."""
    top = _root(document, source, "alphapulse")
    mode, bus = _mode(top)
    chosen: dict[str, str] = {}
    handed: dict[str, tuple[str, ...]] = {"": _TOP_KEYS}
    for domain in DOMAINS:
        section = top.child(domain)
        transport = _domain_transport(section, mode, bus)
        chosen[domain] = transport
        _refuse_others_keys(section, transport)
        section.refuse_unknown(_domain_keys(transport))
        # a unix_socket domain's path is its relay's socket; any other domain's path (a
        # ring's, or none) is not the relay's
        handed[domain] = _CHOOSERS if transport == "unix_socket" else \
            tuple(dict.fromkeys((*_CHOOSERS, *TRANSPORT_KEYS[transport], "path")))
    _refuse_unused_shared(top, chosen)
    relays = config_from(document, source, runtime_dir=runtime_dir, handed_over=handed)
    endpoints = {}
    taken: dict[Any, str] = {}  # ring files and TCP addresses, by the domain that has them
    for domain, transport in chosen.items():
        section = top.child(domain)
        policy = relays.policies[domain]
        options = _OPTIONS[transport](section, top, policy)
        _refuse_shared_place(domain, section, top, transport, options, taken)
        endpoints[domain] = Endpoint(domain, transport, MappingProxyType(options), policy)
    return TransportsConfig(MappingProxyType(endpoints), relays, source)


def _refuse_shared_place(domain: str, section: _Section, top: _Section, transport: str,
                         options: Mapping[str, Any], taken: dict[Any, str]) -> None:
    """A ring file or a relay's TCP address is one domain's: two domains in one ring would
    read each other's frames (or be refused at open, their policies differing), and two relays
    cannot listen on one port."""
    if transport == "shared_memory":
        place: Any = ("ring", options["path"])
        key, what = "path", f"{options['path']} is the {{}} ring too"
    elif transport == "tcp":
        place = ("tcp", options["host"], options["port"])
        key, what = "port", f"{options['host']}:{options['port']} is the {{}} relay's address too"
    else:
        return
    if place not in taken:
        taken[place] = domain
        return
    other = taken[place]
    if key not in section.mapping:  # a default path: the error is at the other's own key
        raise top.child(other).error(key, what.format(domain))
    raise section.error(key, what.format(other))


def _mode(top: _Section) -> tuple[str | None, str]:
    """The file's mode (mixed, message_bus, one transport for all, or None) and its bus."""
    if "deployment" in top.mapping and top.get("deployment") not in DEPLOYMENTS:
        raise top.error("deployment", f"expected {' or '.join(DEPLOYMENTS)},"
                                      f" got {_kind(top.get('deployment'))}")
    mode = None
    if "transport" in top.mapping:
        mode = _transport_name(top, "transport", (MIXED, MESSAGE_BUS))
    bus = "nats"
    if "bus" in top.mapping:
        if mode != MESSAGE_BUS:
            raise top.error("bus", f"chooses the bus of transport: {MESSAGE_BUS}, and the"
                                   f" transport here is {mode or DEFAULT_TRANSPORT}")
        bus = top.get("bus")
        if bus not in BUSES:
            raise top.error("bus", f"expected {' or '.join(BUSES)}, got {_kind(bus)}")
    return mode, bus


def _transport_name(section: _Section, key: str, modes: tuple[str, ...] = ()) -> str:
    value = section.get(key)
    value = SPELLINGS.get(value, value) if isinstance(value, str) else value
    if value in TRANSPORTS or value in modes:
        return str(value)
    known = ", ".join((*TRANSPORTS, *modes))
    if isinstance(value, str):
        raise section.error(key, f"unknown transport {value!r}; expected one of {known}")
    raise section.error(key, f"expected a transport, one of {known}; got {_kind(value)}")


def _domain_transport(section: _Section, mode: str | None, bus: str) -> str:
    named = [key for key in _CHOOSERS if key in section.mapping]
    if len(named) > 1:
        raise section.error("type", "type and transport both name the domain's transport:"
                                    " give one")
    if named:
        return _transport_name(section, named[0])
    if mode == MESSAGE_BUS:
        return bus
    if mode is None or mode == MIXED:
        return DEFAULT_TRANSPORT
    return mode


def _refuse_others_keys(section: _Section, transport: str) -> None:
    """A key of another transport is refused by name, rather than as unknown."""
    for key in section.mapping:
        if key in _EVERY_KEY and key not in TRANSPORT_KEYS[transport]:
            owners = [t for t, keys in TRANSPORT_KEYS.items() if key in keys]
            raise section.error(key, f"a key of {' and '.join(owners)}, and this domain's"
                                     f" transport is {transport}")


def _domain_keys(transport: str) -> list[str]:
    """The keys a domain on `transport` takes, as an unknown key's refusal lists them: the
    relay's policy keys (its socket's path only where the transport has a path), then the
    transport's own."""
    own = TRANSPORT_KEYS[transport]
    policy = [key for key in _DOMAIN_KEYS if key != "path" or key in own]
    return list(dict.fromkeys((*policy, *_CHOOSERS, *own)))


def _refuse_unused_shared(top: _Section, chosen: Mapping[str, str]) -> None:
    for key, transport in _SHARED.items():
        if key in top.mapping and transport not in chosen.values():
            raise top.error(key, f"a setting of the domains on {transport}, and no domain is"
                                 f" on {transport}")


def _capacity_of(section: _Section) -> dict[str, int]:
    if "capacity" not in section.mapping:
        return {}
    return {"capacity": _whole(section, "capacity", 1, MAX_QUEUE_FRAMES)}


def _batching_of(section: _Section) -> dict[str, int]:
    """A bus producer's largest message (NATS) or entry (Redis): either given, its single
    sends are gathered until one is full or flushed."""
    highest = {"batch_frames": MAX_QUEUE_FRAMES, "batch_bytes": MAX_BATCH_BYTES}
    return {key: _whole(section, key, 1, highest[key]) for key in BATCHING
            if key in section.mapping}


def _unix_socket(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    return {"path": policy.path}


def _shared_memory(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    options: dict[str, Any] = {
        "path": _ring_path(section, policy.domain), "size_mb": DEFAULT_SIZE_MB,
        # the domain's overflow: shed never slows producers, block makes them wait
        "policy": "lossy" if policy.overflow == "shed" else "backpressure"}
    if "size_mb" in section.mapping:
        size = section.get("size_mb")
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise section.error("size_mb", f"expected a number of MiB, got {_kind(size)}")
        try:
            _capacity(size)
        except ValueError as error:
            raise section.error("size_mb", str(error).removeprefix("size_mb: ")) from None
        options["size_mb"] = size
    if "wait" in section.mapping:
        wait = section.get("wait")
        if wait not in WAITS:
            raise section.error("wait", f"expected one of {', '.join(WAITS)}, got {_kind(wait)}")
        options["wait"] = wait
    return options


def _ring_path(section: _Section, domain: str) -> Path:
    if "path" not in section.mapping:
        return ring_path(domain)
    path = Path(_text(section, "path"))
    if not path.is_absolute():
        raise section.error("path", f"{path}: not an absolute path")
    if path.is_dir():
        raise section.error("path", f"{path} names a directory, not a ring file")
    if not path.parent.is_dir():
        raise section.error("path", f"{path.parent}: no such directory")
    return path


def _shared(section: _Section, top: _Section, key: str) -> tuple[_Section, bool]:
    """The section that sets `key` for this domain: its own, else the file's top; and
    whether either does."""
    if key in section.mapping:
        return section, True
    return top, key in top.mapping


def _nats(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    options: dict[str, Any] = {"servers": list(nats_transport.DEFAULT_SERVERS),
                               "subject_prefix": nats_transport.DEFAULT_PREFIX,
                               "jetstream": False}
    where, given = _shared(section, top, "servers")
    if given:
        options["servers"] = _urls(where, "servers", _NATS_SCHEMES, many=True)
    where, given = _shared(section, top, "subject_prefix")
    if given:
        try:
            options["subject_prefix"] = nats_transport._check_prefix(where.get("subject_prefix"))
        except FieldValueError:
            raise where.error("subject_prefix", "expected dot-separated subject tokens (no"
                                                " spaces, '*' or '>'), got"
                                                f" {_kind(where.get('subject_prefix'))}"
                              ) from None
    if "jetstream" in section.mapping:
        if not isinstance(section.get("jetstream"), bool):
            raise section.error("jetstream", f"expected true or false, got"
                                             f" {_kind(section.get('jetstream'))}")
        options["jetstream"] = section.get("jetstream")
    return {**options, **_capacity_of(section), **_batching_of(section)}


def _redis(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    options: dict[str, Any] = {"url": redis_streams.DEFAULT_URL,
                               "prefix": redis_streams.DEFAULT_PREFIX}
    where, given = _shared(section, top, "url")
    if given:
        options["url"] = _urls(where, "url", _REDIS_SCHEMES, many=False)[0]
    where, given = _shared(section, top, "stream_prefix")
    if given:
        prefix = where.get("stream_prefix")
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise where.error("stream_prefix", "expected a name without spaces, got"
                                               f" {_kind(prefix)}")
        options["prefix"] = prefix
    return {**options, **_capacity_of(section), **_batching_of(section)}


def _urls(section: _Section, key: str, schemes: tuple[str, ...], *, many: bool) -> list[str]:
    value = section.get(key)
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not urls or (not many and len(urls) > 1):
        what = "a URL or a list of URLs" if many else "a URL"
        got = "an empty list" if urls == [] else _kind(value)
        raise section.error(key, f"expected {what}, got {got}")
    for i, url in enumerate(urls):
        at = key if isinstance(value, str) else f"{key}[{i}]"
        if not isinstance(url, str) or not url.startswith(schemes) \
                or len(url) == len(next(s for s in schemes if url.startswith(s))):
            raise section.error(at, f"expected a URL starting {' or '.join(schemes)}, got"
                                    f" {_kind(url)}", line_of=key)
        if not _port_fits(url):
            raise section.error(at, "expected a URL whose port, if given, is a number from 1 to"
                                    f" 65535, got {_kind(url)}", line_of=key)
    return urls


def _port_fits(url: str) -> bool:
    """No port, or one a client can connect to: the clients would otherwise fail only when
    they connect, with their own words, far from the file."""
    try:
        port = urlsplit(url).port  # ValueError: not a number, out of 0-65535, a bad [IPv6]
    except ValueError:
        return False
    return port != 0


def _tcp(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    options: dict[str, Any] = {"host": DEFAULT_TCP_HOST}
    if "host" in section.mapping:
        options["host"] = _text(section, "host")
    if "port" not in section.mapping:
        raise section.error("port", "missing: a tcp domain needs its port (1-65535)")
    options["port"] = _whole(section, "port", 1, 65535)
    for key in ("certfile", "keyfile", "cafile"):
        if key in section.mapping:
            options[key] = _readable_file(section, key)
    if "keyfile" in options and "certfile" not in options:
        raise section.error("keyfile", "a keyfile goes with its certfile: certfile is missing")
    if "certfile" in options:
        try:  # a certificate that does not load is refused now, not at the first connection
            ssl.create_default_context().load_cert_chain(options["certfile"],
                                                         options.get("keyfile"))
        except (ssl.SSLError, OSError) as error:
            key = "keyfile" if "keyfile" in options else "certfile"
            raise section.error(key, f"the certificate and key do not load: {error}") from None
    return options


def _readable_file(section: _Section, key: str) -> Path:
    path = Path(_text(section, key))
    if not path.is_file():
        raise section.error(key, f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise section.error(key, f"{path}: not readable")
    return path


def _channel(section: _Section, top: _Section, policy: DomainPolicy) -> dict[str, Any]:
    return _capacity_of(section)


_OPTIONS = {"unix_socket": _unix_socket, "shared_memory": _shared_memory, "nats": _nats,
            "redis": _redis, "tcp": _tcp, "channel": _channel}


__all__ = ["Endpoint", "TransportsConfig", "TRANSPORTS", "TRANSPORT_KEYS", "load_config",
           "config_from_document"]
