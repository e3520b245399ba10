"""Domain relays: one fan-out hub per domain on a Unix socket (and TCP, with TLS or not, when
asked: ``tcp``), their clients, policies and configuration.

``connect(domain, role, ...)`` gives a blocking ``Producer`` or ``Consumer``,
``subscribe_many`` one consumer over several relays (``aio`` the same on asyncio); ``RelayServer``
is the relay itself (``alphapulse relay`` runs one process per domain). The per-frame work of
the relay runs in C (``_route``); ``policy`` holds what each domain accepts and how it treats
slow consumers; ``config`` reads them from YAML; ``frames`` the control frames of the
handshake, gaps and statistics.
"""
from ..wire.errors import ConfigError
from .backoff import Backoff
from .client import Consumer, Gap, Producer, connect
from .config import RelaysConfig, Subscription, load_config, load_dashboard_config
from .many import MultiConsumer, subscribe_many
from .policy import DOMAINS, DomainPolicy, default_policy
from .runtime_dir import ensure_runtime_dir, runtime_dir_of
from .server import RelayServer

__all__ = ["connect", "subscribe_many", "MultiConsumer", "Backoff", "Producer", "Consumer", "Gap", "DomainPolicy", "DOMAINS", "default_policy",
           "runtime_dir_of", "RelayServer", "ConfigError", "RelaysConfig", "Subscription",
           "ensure_runtime_dir", "load_config", "load_dashboard_config"]
