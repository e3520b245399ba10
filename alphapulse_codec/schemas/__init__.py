"""Schemas at run time: Schema, Registry (which schema reads each type and version), the
transforms between versions, and the object cache of discovered instruments, tokens and pools.
Stands on the wire core."""
from .cache import ObjectCache
from .registry import Registry, default, dtype, load_schemas, register
from .schema import CacheRule, Schema

__all__ = ["ObjectCache", "Registry", "default", "dtype", "load_schemas", "register",
           "CacheRule", "Schema"]
