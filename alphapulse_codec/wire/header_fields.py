"""The header keywords of the message classes as a typed mapping, to pass with ``**``."""
from __future__ import annotations

from typing import TypedDict


class HeaderFields(TypedDict, total=False):
    """The header values a producer sets on each frame: ``ap.Trade(..., **header)`` with
    ``header: ap.HeaderFields = {"sequence": 7, "timestamp": now, "source": source}``.

    ``version`` and ``flags`` are left out: where a body has a field of that name (Trade's
    ``flags``, DeFiSignal's ``version``), the keyword of that name is the body's, and the
    header's is ``header_flags`` / ``header_version``; both default to what the header needs.
    """

    sequence: int
    timestamp: int
    source: int
