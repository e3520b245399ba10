"""``connect(domain, role, config=...)``: the client of whichever transport the configuration
gives the domain, with the one producer and consumer API of every transport.

Each transport is one entry of CONNECTORS: a function given the domain's Endpoint, the role,
the relay client's keywords and any keyword of the transport's own client.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from ..relay.backoff import Backoff
from ..relay.client import CONNECT_TIMEOUT
from ..relay.client import connect as relay_connect
from ..relay.config import RelaysConfig
from ..relay.tcp import client_context
from ..relay.policy import DOMAINS, DomainPolicy
from ..wire.errors import ConfigError, FieldValueError
from ..relay import frames
from . import shm
from .config import BATCHING, Endpoint, TransportsConfig, load_config
from .numbered import Numbering, SourcedProducer

Role = Literal["producer", "consumer"]
# the relay client's keywords, refused by a transport that does not take them
RELAY_ONLY = ("source", "sequence", "reconnect")
# those of them every producer takes: numbered.py gives them to the clients that lack them
SOURCED = ("source", "sequence")


def connect(domain: str, role: Role, *, types: Iterable[int | str] | None = None,
            sources: Iterable[int | str] | None = None, name: str | None = None,
            config: Any = None, runtime_dir: str | os.PathLike[str] | None = None,
            source: int | None = None, sequence: Literal["auto"] | None = None,
            timeout: float = CONNECT_TIMEOUT, reconnect: bool | Backoff = False,
            **options: Any) -> Any:
    """A producer or consumer of ``domain`` on the transport the configuration gives it.

    ``config`` is a YAML file's path, a document already read, a loaded TransportsConfig
    (alphapulse_codec.transport.load_config) or the domain's Endpoint of one; None, a RelaysConfig or DomainPolicy objects
    mean the relays (unix_socket) as ``relay.connect`` takes them. ``types``/``sources``
    subscribe a consumer on every transport; ``name`` labels the client where the transport
    keeps names; ``timeout`` bounds connecting. A producer's ``source`` and
    ``sequence="auto"`` number its frames per source on every transport (numbered.py where the
    transport's own client does not); ``reconnect`` is the relay client's (a NATS client
    reconnects through its server list by itself).
    ``options`` go to the transport's own client (a Redis consumer's ``group``, a JetStream
    ``start_sequence``, a ring's ``wait``...). Raises ConfigError for a transport this
    installation does not have."""
    if role == "consumer":
        types = frames.check_domain_types(domain, types)
    relay_keywords: dict[str, Any] = {"types": types, "sources": sources, "name": name, "source": source,
                      "sequence": sequence, "timeout": timeout, "reconnect": reconnect}
    endpoint = endpoint_of(domain, config, runtime_dir)
    if endpoint is None:
        return relay_connect(domain, role, config=config, runtime_dir=runtime_dir,
                             **relay_keywords, **options)
    with options_of(endpoint, role, options):
        return CONNECTORS[endpoint.transport](endpoint, role, relay_keywords, options)


@contextlib.contextmanager
def options_of(endpoint: Endpoint, role: str, options: Mapping[str, Any]) -> Iterator[None]:
    """A keyword of ``options`` that the transport's client does not take, refused naming it
    and the transport, where Python's TypeError names neither."""
    try:
        yield
    except TypeError as error:
        found = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if found is None or found.group(1) not in options:
            raise
        key = found.group(1)
        raise FieldValueError(f"{key}: not a keyword of a {endpoint.transport} {role}"
                              f" ({endpoint.domain} is on {endpoint.transport})",
                              field=key) from None


def endpoint_of(domain: str, config: Any, runtime_dir: str | os.PathLike[str] | None
                ) -> Endpoint | None:
    """The domain's Endpoint of `config`, or None when `config` is the relay's own kind."""
    if domain not in DOMAINS:
        raise FieldValueError(f"domain: {domain!r} is not one of {', '.join(DOMAINS)}",
                              field="domain")
    if config is None or isinstance(config, (RelaysConfig, DomainPolicy)):
        return None
    if isinstance(config, Endpoint):
        if config.domain != domain:
            raise FieldValueError(f"config: the endpoint of {config.domain!r}, not {domain!r}",
                                  field="config")
        return config
    if isinstance(config, Mapping) and config and \
            all(isinstance(value, DomainPolicy) for value in config.values()):
        return None
    if not isinstance(config, (str, os.PathLike, Mapping, TransportsConfig)):
        raise FieldValueError(f"config: expected a YAML file's path, a document read from one (a"
                              f" mapping), a TransportsConfig, an Endpoint, a RelaysConfig or a"
                              f" DomainPolicy, got {type(config).__name__}", field="config")
    loaded = config if isinstance(config, TransportsConfig) else \
        load_config(config, runtime_dir=runtime_dir)
    return loaded.endpoints[domain]


def _refuse_relay_keywords(endpoint: Endpoint, keywords: Mapping[str, Any],
                           allowed: tuple[str, ...] = ()) -> None:
    for key in RELAY_ONLY:
        given = keywords[key] is not None and keywords[key] is not False  # source 0 counts
        if key not in allowed and given:
            raise FieldValueError(f"{key}: a relay client's keyword; {endpoint.domain} is on"
                                  f" {endpoint.transport}", field=key)


def _role(role: str) -> None:
    if role not in ("producer", "consumer"):
        raise FieldValueError(f"role: {role!r} is not 'producer' or 'consumer'", field="role")


def numbering_of(keywords: Mapping[str, Any]) -> Numbering | None:
    """The producer's ``source`` and ``sequence="auto"``, when it was given either."""
    source, sequence = keywords["source"], keywords["sequence"]
    if source is None and sequence is None:
        return None
    return Numbering(0 if source is None else frames._number(source, "sources"),
                     sequence == "auto")


def _sourced(producer: Any, keywords: Mapping[str, Any]) -> Any:
    """``producer`` as it is, or writing as ``source`` and numbering its frames with
    ``sequence="auto"``, as a relay client does."""
    numbering = numbering_of(keywords)
    return producer if numbering is None else SourcedProducer(producer, numbering)


def _check_sourced(role: Role, keywords: Mapping[str, Any]) -> None:
    """The relay client's checks of ``source`` and ``sequence``, for the transports that
    take them through SourcedProducer."""
    if keywords["sequence"] not in (None, "auto"):
        raise FieldValueError(f"sequence: {keywords['sequence']!r} is not None or 'auto'",
                              field="sequence")
    if role == "consumer" and (keywords["source"] is not None or keywords["sequence"] is not None):
        raise FieldValueError("source and sequence belong to a producer", field="source")


def _producer_subscribes(keywords: Mapping[str, Any]) -> None:
    if keywords["types"] is not None or keywords["sources"] is not None:
        raise FieldValueError("types and sources subscribe a consumer", field="types")


def _unix_socket(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
                 options: Mapping[str, Any]) -> Any:
    return relay_connect(endpoint.domain, role, config=endpoint.policy, **keywords, **options)


def _tcp(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
         options: Mapping[str, Any]) -> Any:
    """The domain's relay over TCP. One file serves the relay and its clients: with TLS, a
    client trusts ``cafile`` (else the relay's own ``certfile``, a self-signed certificate),
    and shows ``certfile``/``keyfile`` as its own where ``cafile`` makes the relay ask for
    client certificates."""
    address, tls = tcp_address(endpoint)
    return relay_connect(endpoint.domain, role, config=endpoint.policy, address=address,
                         tls=tls, **keywords, **options)


def tcp_address(endpoint: Endpoint) -> tuple[tuple[str, int], ssl.SSLContext | None]:
    """A tcp domain's relay address, and the TLS context its clients dial it with."""
    listener = endpoint.options
    tls = None
    if listener.get("certfile") or listener.get("cafile"):
        requires_clients = listener.get("cafile") is not None
        tls = client_context(listener.get("cafile") or listener["certfile"],
                             listener.get("certfile") if requires_clients else None,
                             listener.get("keyfile") if requires_clients else None)
    return (listener["host"], listener["port"]), tls


def _shared_memory(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
                   options: Mapping[str, Any]) -> Any:
    _role(role)
    _refuse_relay_keywords(endpoint, keywords, allowed=SOURCED)
    _check_sourced(role, keywords)
    ring = dict(endpoint.options)
    if role == "producer":
        _producer_subscribes(keywords)
        if ring["policy"] == "backpressure" and "timeout" not in options:
            # a producer waits for the slowest consumer so long, then raises
            ring["timeout"] = endpoint.policy.stuck_timeout
        return _sourced(shm.Producer(ring.pop("path"), **ring, **options), keywords)
    return shm.Consumer(ring.pop("path"), types=keywords["types"], sources=keywords["sources"],
                        **ring, **options)


def _nats(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
          options: Mapping[str, Any]) -> Any:
    from . import nats  # its client library is an extra

    client = nats.connect(endpoint.domain, role, **nats_options(endpoint, role, keywords, options))
    return _sourced(client, keywords) if role == "producer" else client


def nats_options(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
                 options: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of a NATS Producer or Consumer (blocking or asyncio) of the domain."""
    _role(role)
    _refuse_relay_keywords(endpoint, keywords, allowed=("reconnect", *SOURCED))
    _check_sourced(role, keywords)
    bus, batching = _bus_options(endpoint)
    capacity = bus.pop("capacity", None)
    common = {**bus, "name": keywords["name"], "connect_timeout": keywords["timeout"]}
    if role == "producer":
        _producer_subscribes(keywords)
        return {**common, "max_queue_size": capacity or endpoint.policy.max_queue_size,
                **batching, **options}
    return {"types": keywords["types"], "sources": keywords["sources"], **common, **options}


def _bus_options(endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """A bus domain's options: those of both roles, and the producer's batching."""
    bus = dict(endpoint.options)
    return bus, {key: bus.pop(key) for key in BATCHING if key in bus}


def _redis(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
           options: Mapping[str, Any]) -> Any:
    from . import redis_streams  # its client library is an extra

    _role(role)
    _refuse_relay_keywords(endpoint, keywords, allowed=SOURCED)
    _check_sourced(role, keywords)
    bus, batching = _bus_options(endpoint)
    capacity = bus.pop("capacity", None)
    common = {**bus, "connect_timeout": keywords["timeout"]}
    if role == "producer":
        _producer_subscribes(keywords)
        return _sourced(redis_streams.Producer(
            endpoint.domain, **common, max_queue_size=capacity or endpoint.policy.max_queue_size,
            **batching, **options), keywords)
    return redis_streams.Consumer(endpoint.domain, types=keywords["types"],
                                  sources=keywords["sources"], name=keywords["name"], **common,
                                  **options)


def _channel(endpoint: Endpoint, role: Role, keywords: Mapping[str, Any],
             options: Mapping[str, Any]) -> Any:
    channel = _module("channel", endpoint)
    return channel.connect(endpoint.domain, role,
                           **channel_keywords(endpoint, keywords, options))


def channel_keywords(endpoint: Endpoint, keywords: Mapping[str, Any],
                     options: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of ``channel.connect`` (or ``aio_connect``) for a channel domain."""
    _refuse_relay_keywords(endpoint, keywords, allowed=("source", "sequence"))
    return {"types": keywords["types"], "sources": keywords["sources"],
            "name": keywords["name"], "source": keywords["source"],
            "sequence": keywords["sequence"], "config": endpoint.policy, **endpoint.options,
            **options}


def _module(name: str, endpoint: Endpoint) -> Any:
    """The transport's module, or a ConfigError saying this installation lacks it."""
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.{name}":
            raise
        raise _not_available(endpoint) from None


def _not_available(endpoint: Endpoint) -> ConfigError:
    key = f"{endpoint.domain}.transport"
    return ConfigError(f"{key}: the {endpoint.transport} transport is not available in this"
                       " version", key=key)


Connector = Callable[[Endpoint, Role, Mapping[str, Any], Mapping[str, Any]], Any]
# the transports, by the name the configuration gives them; one whose module is absent from
# this installation is refused with a ConfigError saying it is not available
CONNECTORS: dict[str, Connector] = {
    "unix_socket": _unix_socket,
    "tcp": _tcp,
    "shared_memory": _shared_memory,
    "nats": _nats,
    "redis": _redis,
    "channel": _channel,
}
