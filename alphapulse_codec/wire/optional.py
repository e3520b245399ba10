"""The packages only some features need, and the extra of alphapulse_codec that brings each:
the codec itself needs numpy alone. A feature imports such a package through `require`, so
that its absence is told as the extra to install rather than as a bare ImportError."""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingExtraError

# module -> (distribution on the package index, extra); pyproject.toml's extras list the same
# distributions, which tests/test_packaging.py checks
OPTIONAL = {
    "rich": ("rich", "cli"),
    "yaml": ("PyYAML", "yaml"),
    "pyarrow": ("pyarrow", "arrow"),
    "pandas": ("pandas", "arrow"),
    "nats": ("nats-py", "nats"),
    "redis": ("redis", "redis"),
}


def require(module: str, purpose: str) -> ModuleType:
    """`module` imported, or MissingExtraError saying that `purpose` needs it and which extra
    installs it. An ImportError from inside an installed package is not ours to rename."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = missing_extra(error, purpose)
        if missing is None:
            raise
        raise missing from None


def missing_extra(error: ImportError, purpose: str) -> MissingExtraError | None:
    """The MissingExtraError that `error` means, if it is the absence of an optional package."""
    top = (error.name or "").split(".")[0]
    if top not in OPTIONAL or _installed(top):
        return None
    distribution, extra = OPTIONAL[top]
    return MissingExtraError(
        f"{purpose} needs {distribution}, which is not installed:"
        f" pip install 'alphapulse_codec[{extra}]'", name=top, extra=extra)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module left half imported
        return False
