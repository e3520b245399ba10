"""Comparison of JSON objects as the conformance check does: every expected key, equal."""
from __future__ import annotations

from typing import Any


def assert_contains(expected: Any, got: Any, path: str = "frame") -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict), path
        for key, value in expected.items():
            assert key in got, f"{path}.{key} missing"
            assert_contains(value, got[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), path
        for i, (a, b) in enumerate(zip(expected, got)):
            assert_contains(a, b, f"{path}[{i}]")
    else:
        assert expected == got, f"{path}: expected {expected!r}, got {got!r}"
