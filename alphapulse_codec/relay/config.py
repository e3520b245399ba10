"""The relays' configuration file and the dashboard's, in the shapes of the design's examples.

Everything is checked when the file is loaded, so that a relay never starts on a value it
would misread: an unknown key, a value of the wrong type or out of range, a socket path that
cannot be bound. The error names the file, the line and the key's path
(``relays.yml, line 14: alphapulse.execution.circuit_breaker: must be <= max_queue_size
(10000), got 20000``).
"""
from __future__ import annotations

import difflib
import math
import os
import ssl
import stat
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from ..wire.enums import MessageType
from ..wire.errors import ConfigError
from .frames import article
from .policy import DOMAINS, MAX_BUSY_POLL_US, DomainPolicy, default_policy
from .runtime_dir import (
    default_runtime_dir,
    directory_problem,
    group_problem,
    socket_path_problem,
)
from .tcp import describe
from .yamlfile import read_yaml

MAX_QUEUE_FRAMES = 100_000_000  # frames queued per consumer; more is memory no machine has
MAX_STUCK_SECONDS = 86_400.0
TRANSPORT = "unix_socket"
DEPLOYMENT = "single-machine"
GROUP_SOCKET_MODE = 0o660
_DOMAIN_KEYS = ("path", "max_queue_size", "circuit_breaker", "validate_checksums",
                "require_sequence", "overflow", "stuck_timeout", "busy_poll_us", "transport")
_TOP_KEYS = ("runtime_dir", "socket_group", "transport", "deployment", *DOMAINS)
_SUBSCRIPTION_KEYS = ("enabled", "path", "message_types")

Source = str | os.PathLike[str] | Mapping[str, Any]


@dataclass(frozen=True)
class RelaysConfig:
    """What the relays run with: the runtime directory, the group granted the sockets (None:
    the relays' user alone) and the policy of every domain, by name. It pickles, for the
    relays' processes."""

    runtime_dir: Path
    socket_group: str | None
    policies: Mapping[str, DomainPolicy]


@dataclass(frozen=True)
class Subscription:
    """One relay the dashboard reads: its domain, its socket, and the message types it asks
    for (None: every type the relay carries); with ``address`` (host, port), the relay's TCP
    listener instead of its socket, through TLS with ``tls`` (a client SSLContext)."""

    domain: str
    path: Path
    message_types: tuple[int, ...] | None
    address: tuple[str, int] | None = None
    tls: ssl.SSLContext | None = None

    @property
    def where(self) -> str:
        """The relay, for messages: the socket's path or ``tcp://host:port``."""
        return str(self.path) if self.address is None else describe(self.address, self.tls)


class _Section:
    """One mapping of the document, its key path for messages, and the lines of its keys."""

    def __init__(self, mapping: Mapping[Any, Any], key: str, source: str | None) -> None:
        self.mapping = mapping
        self.key = key
        self.source = source
        self.lines: dict[Any, int] = getattr(mapping, "lines", {})

    def path_of(self, key: Any) -> str:
        return f"{self.key}.{key}" if self.key else str(key)

    def error(self, key: Any, problem: str, *, line_of: Any = None) -> ConfigError:
        """ConfigError at `key` of this mapping, on the line of `line_of` (default `key`)."""
        line = self.lines.get(key if line_of is None else line_of)
        return _error(self.source, line, self.path_of(key), problem)

    def get(self, key: str) -> Any:
        return self.mapping.get(key)

    def child(self, key: str) -> _Section:
        """The mapping under `key` (empty when the key is absent or has no value)."""
        value = self.mapping.get(key)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping of keys, got {_kind(value)}")
        return _Section(value, self.path_of(key), self.source)

    def refuse_unknown(self, known: Iterable[str]) -> None:
        known = list(known)
        for key in self.mapping:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.error(key, f"unknown key{hint}; the keys here are {', '.join(known)}")


def _error(source: str | None, line: int | None, key: str | None, problem: str) -> ConfigError:
    where = [source] if source else []
    if source and line:
        where[0] += f", line {line}"
    if key:
        where.append(key)
    return ConfigError(": ".join([*where, problem]), key=key, source=source, line=line)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple, set)):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    kind = "whole number" if type(value) is int else type(value).__name__
    return f"{value!r} ({article(kind)} {kind})"


def _whole(section: _Section, key: str, low: int, high: int) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise section.error(key, f"expected a whole number, got {_kind(value)}")
    if not low <= value <= high:
        raise section.error(key, f"must be between {low:,} and {high:,}, got {value:,}")
    return value


def _flag(section: _Section, key: str) -> bool:
    value = section.get(key)
    if not isinstance(value, bool):
        raise section.error(key, f"expected true or false, got {_kind(value)}")
    return value


def _seconds(section: _Section, key: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise section.error(key, f"expected a number of seconds, got {_kind(value)}")
    if not (math.isfinite(value) and 0 < value <= MAX_STUCK_SECONDS):
        raise section.error(key, f"must be more than 0 and at most {MAX_STUCK_SECONDS:,.0f}"
                                 f" seconds, got {value}")
    return float(value)


def _text(section: _Section, key: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value:
        raise section.error(key, f"expected a text, got {_kind(value)}")
    return value


def _path(section: _Section, key: str) -> Path:
    text = _text(section, key)
    problem = socket_path_problem(text)
    if problem:
        raise section.error(key, problem)
    return Path(text)


def _transport(section: _Section, key: str) -> None:
    """Refuse every transport but the relays' own, Unix sockets: the others are read by the
    transport layer (alphapulse_codec.transport.load_config), which hands the relay its keys."""
    if key not in section.mapping or section.get(key) == TRANSPORT:
        return
    raise section.error(key, f"{_kind(section.get(key))} is not a relay transport: the relays"
                             f" run on Unix sockets ({key}: {TRANSPORT}); the other transports"
                             " are read by alphapulse_codec.transport.load_config")


def _deployment(section: _Section) -> None:
    if "deployment" not in section.mapping or section.get("deployment") == DEPLOYMENT:
        return
    raise section.error("deployment", f"the relays run on one machine: expected {DEPLOYMENT},"
                                      f" got {_kind(section.get('deployment'))}; a distributed"
                                      " deployment is read by"
                                      " alphapulse_codec.transport.load_config")


def _document(source: Source) -> tuple[Any, str | None]:
    if isinstance(source, Mapping):
        return source, None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a file path or a mapping, got {type(source).__name__}")
    return read_yaml(source), str(source)


# the wrapper of each kind of file, and what a file under the other one is
_OTHER_KIND = {"alphapulse": ("dashboard", "a dashboard's file (alphapulse top --config)"),
               "dashboard": ("alphapulse", "the relays' configuration (alphapulse relay"
                                           " --config)")}


def _root(document: Any, source: str | None, wrapper: str) -> _Section:
    """The configuration's mapping, under its optional `wrapper` key."""
    if not isinstance(document, Mapping):
        what = "empty" if document is None else f"the document is {_kind(document)}"
        raise _error(source, None, None, f"{what}: expected a mapping ({wrapper}: ...)")
    if wrapper not in document:
        root = _Section(document, "", source)
        other, kind = _OTHER_KIND.get(wrapper, (None, ""))
        if other in document:
            raise root.error(other, f"this is {kind}, not one of {wrapper}: ...")
        return root
    outer = _Section(document, "", source)
    outer.refuse_unknown([wrapper])
    return outer.child(wrapper)


def load_config(source: Source, *, runtime_dir: str | os.PathLike[str] | None = None
                ) -> RelaysConfig:
    """The relays' configuration of a YAML file (or of a mapping already read).

    The runtime directory is `runtime_dir`, else the file's ``runtime_dir``, else
    ``$XDG_RUNTIME_DIR/alphapulse``, else ``/tmp/alphapulse``; a domain's socket is its
    ``path``, else ``<runtime dir>/<domain>.sock``. Raises ConfigError.
    """
    return config_from(*_document(source), runtime_dir=runtime_dir)


def config_from(document: Any, source: str | None = None, *,
                runtime_dir: str | os.PathLike[str] | None = None,
                handed_over: Mapping[str, Collection[str]] | None = None) -> RelaysConfig:
    """The relays' configuration of a YAML document already read from `source`.

    `handed_over` names, per section ("" the top, else a domain), the keys the layer above
    reads (the transports'): the relay neither reads nor refuses them, and a domain whose
    ``path`` is handed over is not served by a relay, so its socket is not checked. Without
    it the file is a relays' file alone: a transport other than unix_socket is refused."""
    handed_over = handed_over or {}
    top = _root(document, source, "alphapulse")
    top_handed = handed_over.get("", ())
    # a file written for another transport is refused for it, not for its other keys
    if "transport" not in top_handed:
        _transport(top, "transport")
    if "deployment" not in top_handed:
        _deployment(top)
    top.refuse_unknown(_known(_TOP_KEYS, top_handed))
    directory, refuse_directory = _runtime_dir(top, runtime_dir)
    group = None
    if "socket_group" in top.mapping:
        group = _text(top, "socket_group")
        problem = group_problem(group)
        if problem:
            raise top.error("socket_group", problem)
    policies: dict[str, DomainPolicy] = {}
    for domain in DOMAINS:
        section = top.child(domain)
        handed = handed_over.get(domain, ())
        policy = _domain_policy(section, domain, directory, handed)
        if group is not None:
            policy = replace(policy, socket_mode=GROUP_SOCKET_MODE, socket_group=group)
        problem = None if "path" in handed else _socket_problem(policy, policies)
        if problem:
            raise section.error("path", problem) if "path" in section.mapping \
                else refuse_directory(problem)
        policies[domain] = policy
    return RelaysConfig(runtime_dir=directory, socket_group=group, policies=policies)


def _runtime_dir(top: _Section, explicit: str | os.PathLike[str] | None
                 ) -> tuple[Path, Callable[[str], ConfigError]]:
    """The runtime directory, and how to refuse it: at its key when the file chose it."""
    configured = None
    if "runtime_dir" in top.mapping:  # checked even when the argument overrides it
        configured = Path(_text(top, "runtime_dir"))
        if not configured.is_absolute():
            raise top.error("runtime_dir", f"{configured}: not an absolute path")
    if explicit is not None:
        directory = Path(explicit)

        def refuse(problem: str) -> ConfigError:
            return ConfigError(f"runtime_dir argument {directory}: {problem}", source=top.source)
    elif configured is not None:
        directory = configured

        def refuse(problem: str) -> ConfigError:
            return top.error("runtime_dir", problem)
    else:
        directory, why = default_runtime_dir()

        def refuse(problem: str) -> ConfigError:
            return _error(top.source, None, None, f"runtime directory {directory} ({why}):"
                                                  f" {problem}; set runtime_dir")
    if not directory.is_absolute():
        raise refuse("not an absolute path")
    return directory, refuse


def _known(own: Iterable[str], handed: Collection[str]) -> list[str]:
    """The keys of a section: the relay's own, then those handed over to the layer above."""
    own = list(own)
    return own + [key for key in handed if key not in own]


def _domain_policy(section: _Section, domain: str, runtime_dir: Path,
                   handed: Collection[str]) -> DomainPolicy:
    if "transport" not in handed:
        _transport(section, "transport")
    section.refuse_unknown(_known(_DOMAIN_KEYS, handed))
    policy = default_policy(domain, runtime_dir)
    changes: dict[str, Any] = {}
    if "path" in section.mapping and "path" not in handed:
        changes["path"] = _path(section, "path")
    if "max_queue_size" in section.mapping:
        changes["max_queue_size"] = _whole(section, "max_queue_size", 1, MAX_QUEUE_FRAMES)
    size = changes.get("max_queue_size", policy.max_queue_size)
    if "circuit_breaker" in section.mapping:
        breaker = _whole(section, "circuit_breaker", 1, MAX_QUEUE_FRAMES)
        if breaker > size:
            raise section.error("circuit_breaker",
                                f"must be <= max_queue_size ({size}), got {breaker}")
        changes["circuit_breaker"] = breaker
    elif "max_queue_size" in section.mapping:
        # the design's breakers are all at 80% of the queue
        changes["circuit_breaker"] = max(1, size * 4 // 5)
    for key in ("validate_checksums", "require_sequence"):
        if key in section.mapping:
            changes[key] = _flag(section, key)
    if "overflow" in section.mapping:
        overflow = section.get("overflow")
        if overflow not in ("shed", "block"):
            raise section.error("overflow", f"expected shed or block, got {_kind(overflow)}")
        changes["overflow"] = cast(Literal["shed", "block"], overflow)
    if "stuck_timeout" in section.mapping:
        changes["stuck_timeout"] = _seconds(section, "stuck_timeout")
    if "busy_poll_us" in section.mapping:
        changes["busy_poll_us"] = _whole(section, "busy_poll_us", 0, MAX_BUSY_POLL_US)
    return replace(policy, **changes)


def _socket_problem(policy: DomainPolicy, others: Mapping[str, DomainPolicy]) -> str | None:
    """Why a relay could not bind the policy's socket: a path too long, a directory that is
    not safe, a file there that is not a socket, a socket of another domain; or None."""
    problem = socket_path_problem(str(policy.path)) or directory_problem(policy.path.parent)
    if problem:
        return problem
    try:
        info = policy.path.lstat()
    except FileNotFoundError:
        pass
    except OSError as error:
        return f"{policy.path}: {error.strerror}"
    else:
        if not stat.S_ISSOCK(info.st_mode):
            return f"{policy.path} exists and is not a socket"
    for other in others.values():
        if other.path == policy.path:
            return f"{policy.path} is the {other.domain} relay's socket too"
    return None


def load_dashboard_config(source: Source, *,
                          runtime_dir: str | os.PathLike[str] | None = None
                          ) -> tuple[Subscription, ...]:
    """The relays a dashboard subscribes to, from a ``dashboard_config.yml`` (or a mapping
    already read): the enabled subscriptions, with their message types by number. A
    subscription without ``path`` reads ``<runtime dir>/<domain>.sock``, the runtime
    directory being `runtime_dir`, else ``$XDG_RUNTIME_DIR/alphapulse``, else
    ``/tmp/alphapulse``. Raises ConfigError."""
    return dashboard_from(*_document(source), runtime_dir=runtime_dir)


def dashboard_from(document: Any, source: str | None = None, *,
                   runtime_dir: str | os.PathLike[str] | None = None
                   ) -> tuple[Subscription, ...]:
    """The dashboard's subscriptions of a YAML document already read from `source`."""
    top = _root(document, source, "dashboard")
    top.refuse_unknown(["subscriptions"])
    subscriptions = top.child("subscriptions")
    subscriptions.refuse_unknown(DOMAINS)
    if runtime_dir is not None:
        directory = Path(runtime_dir)
        if not directory.is_absolute():
            raise ConfigError(f"runtime_dir argument {directory}: not an absolute path")
    else:
        directory = default_runtime_dir()[0]
    chosen = []
    for domain in DOMAINS:
        if domain not in subscriptions.mapping:
            continue
        section = subscriptions.child(domain)
        section.refuse_unknown(_SUBSCRIPTION_KEYS)
        if "path" in section.mapping:
            path = _path(section, "path")
        else:
            path = directory / f"{domain}.sock"
            problem = socket_path_problem(str(path))
            if problem:
                raise ConfigError(f"the {domain} socket in the runtime directory: {problem}",
                                  source=source)
        types = _message_types(section, domain) if "message_types" in section.mapping else None
        if "enabled" not in section.mapping or _flag(section, "enabled"):
            chosen.append(Subscription(domain=domain, path=path, message_types=types))
    if not chosen:
        raise top.error("subscriptions",
                        f"no subscription is enabled: name one of {', '.join(DOMAINS)}")
    return tuple(chosen)


def _message_types(section: _Section, domain: str) -> tuple[int, ...]:
    names = section.get("message_types")
    if not isinstance(names, list) or not names:
        raise section.error("message_types", "expected a list of message type names, got"
                            f" {'an empty list' if names == [] else _kind(names)}; leave the"
                            " key out for every type")
    by_case = {t.name.lower(): t for t in MessageType}
    span = DOMAINS[domain]
    numbers: list[int] = []

    for i, name in enumerate(names):

        def refuse(problem: str, index: int = i) -> ConfigError:
            return section.error(f"message_types[{index}]", problem, line_of="message_types")

        if not isinstance(name, str):
            raise refuse(f"expected a message type name, got {_kind(name)}")
        found = by_case.get(name.lower())
        if found is None:
            close = difflib.get_close_matches(name.lower(), list(by_case), n=1)
            hint = f" (did you mean {by_case[close[0]].name}?)" if close else ""
            raise refuse(f"unknown message type {name!r}{hint}")
        if found not in span:
            owner = next((d for d, r in DOMAINS.items() if found in r), None)
            whose = f"{article(owner)} {owner} type ({int(found)})" if owner \
                else f"of no relay ({int(found)})"
            raise refuse(f"{found.name} is {whose}, not {article(domain)} {domain} type"
                         f" ({span.start}-{span.stop - 1})")
        if int(found) in numbers:
            raise refuse(f"{found.name} is named twice")
        numbers.append(int(found))
    return tuple(numbers)
