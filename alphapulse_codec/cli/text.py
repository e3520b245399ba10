"""Values as the commands print them."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from ..wire.enums import SourceType


def timestamp_text(nanoseconds: int) -> str:
    """ISO-8601 UTC with all nine digits of the nanoseconds."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    second = _second_text(seconds)
    return f"{nanoseconds} ns" if second is None else f"{second}.{fraction:09d}Z"


@lru_cache(maxsize=4096)  # a capture's frames come many to the second: inspect formats each
def _second_text(seconds: int) -> str | None:
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@lru_cache(maxsize=256)
def source_text(source: int) -> str:
    try:
        return SourceType(source).name
    except ValueError:
        return str(source)


def count(number: int, noun: str) -> str:
    """`number` with `noun`, plural unless there is one: "1 frame", "2,000 frames"."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
