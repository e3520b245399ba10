"""Domain relays: one fan-out hub per domain on a Unix socket, their clients, policies and
configuration.

``connect(domain, role, ...)`` gives a blocking ``Producer`` or ``Consumer``; ``RelayServer``
is the relay itself (``alphapulse relay`` runs one process per domain). The per-frame work of
the relay runs in C (``_route``); ``policy`` holds what each domain accepts and how it treats
slow consumers; ``config`` reads them from YAML; ``frames`` the control frames of the
handshake, gaps and statistics.
"""
from ..wire.errors import ConfigError
from .client import Consumer, Gap, Producer, connect
from .config import RelaysConfig, Subscription, load_config, load_dashboard_config
from .policy import DOMAINS, DomainPolicy, default_policy, default_runtime_dir
from .runtime_dir import ensure_runtime_dir
from .server import RelayServer

__all__ = ["connect", "Producer", "Consumer", "Gap", "DomainPolicy", "DOMAINS", "default_policy",
           "default_runtime_dir", "RelayServer", "ConfigError", "RelaysConfig", "Subscription",
           "ensure_runtime_dir", "load_config", "load_dashboard_config"]
