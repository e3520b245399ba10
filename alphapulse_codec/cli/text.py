"""Values as the commands print them."""
from __future__ import annotations

from datetime import datetime, timezone

from ..wire.enums import SourceType


def timestamp_text(nanoseconds: int) -> str:
    """ISO-8601 UTC with all nine digits of the nanoseconds."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{nanoseconds} ns"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def source_text(source: int) -> str:
    try:
        return SourceType(source).name
    except ValueError:
        return str(source)
