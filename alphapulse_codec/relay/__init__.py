"""The domain relays' layer: their policies and configuration, above the wire core and the
schemas, below the samples and the command line."""
from ..wire.errors import ConfigError
from .config import RelaysConfig, Subscription, load_config, load_dashboard_config
from .policy import DOMAINS, DomainPolicy, default_policy
from .runtime_dir import ensure_runtime_dir

__all__ = [
    "DOMAINS",
    "ConfigError",
    "DomainPolicy",
    "RelaysConfig",
    "Subscription",
    "default_policy",
    "ensure_runtime_dir",
    "load_config",
    "load_dashboard_config",
]
