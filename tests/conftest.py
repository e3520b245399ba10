from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def vector_bytes() -> bytes:
    return (DATA / "peer-v1.bin").read_bytes()


@pytest.fixture(scope="session")
def vector_objects() -> list[dict]:
    return [json.loads(line) for line in (DATA / "peer-v1.jsonl").read_text().splitlines() if line]
