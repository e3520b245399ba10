"""Canonical JSON (protocol section 9): the one text of a JSON value that schema
announcements carry, so that equal schemas announce equal bytes.

It is what ``json.dumps(value, sort_keys=True, separators=(",", ":"))`` writes: members in
ascending key order, no whitespace, integers in plain decimal, strings with every character
outside U+0020-U+007E escaped.
"""
from __future__ import annotations

import json
from typing import Any, NoReturn

from .errors import FieldValueError


def canonical_json(value: Any) -> str:
    """The canonical text of a JSON value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def check_canonical_json(text: str, where: str) -> None:
    """Refuse `text` unless it is the canonical JSON of the value it holds, naming the first
    character where it differs."""

    def refuse(reason: str) -> NoReturn:
        raise FieldValueError(f"{where}: not canonical JSON (protocol section 9): {reason}",
                              field=where)

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            refuse("an object repeats a key")
        return obj

    def no_fraction(number: str) -> NoReturn:
        refuse(f"{number} is not an integer")

    try:
        value = json.loads(text, object_pairs_hook=members, parse_float=no_fraction,
                           parse_constant=no_fraction)
    except FieldValueError:
        raise
    except ValueError as error:  # not JSON, or an integer of more digits than Python reads
        refuse(f"not JSON: {error}")
    except RecursionError:
        refuse("nested too deeply to read")
    expected = canonical_json(value)
    if expected != text:
        at = next((i for i, (a, b) in enumerate(zip(text, expected)) if a != b),
                  min(len(text), len(expected)))
        refuse(f"at character {at}, expected {expected[at:at + 16]!r}, got {text[at:at + 16]!r}")
