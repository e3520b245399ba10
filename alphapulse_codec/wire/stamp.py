"""The stamp that ties generated code to the layout sources it was generated from.

tools/generate.py writes ``layout-sources: <hash>`` into every file it generates; setup.py
refuses to build, and the compiled core refuses to import, when the hash of the layout sources
(layouts.py and the enums it numbers types with) differs from the stamp. This module imports
nothing of the package, so that setup.py and the generator can load it on its own.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUT_SOURCES = ("layouts.py", "enums.py")
STAMP = re.compile(r"layout-sources: ([0-9a-f]{16})")


def layout_sources_hash(directory: Path = HERE) -> str:
    """The first 16 hex digits of the SHA-256 of the layout sources, in order."""
    digest = hashlib.sha256()
    for name in LAYOUT_SOURCES:
        digest.update((directory / name).read_bytes())
    return digest.hexdigest()[:16]


def stamp_of(text: str) -> str | None:
    """The layout-sources hash stamped into a generated file's text, or None."""
    found = STAMP.search(text)
    return found.group(1) if found else None


def stale_files(paths: list[Path], directory: Path = HERE) -> list[Path]:
    """The generated files whose stamp is missing or differs from the layout sources' hash."""
    expected = layout_sources_hash(directory)
    return [p for p in paths if stamp_of(p.read_text()) != expected]
