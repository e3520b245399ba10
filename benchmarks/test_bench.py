"""pytest-benchmark cases: the codec and each peer on the same work, grouped by the work."""
from __future__ import annotations

import peers
import pytest

CASES = [(group, name, fn) for group, cases in (("decode", peers.decode_cases()),
                                                ("build", peers.build_cases()),
                                                ("crc32 1 MiB", peers.crc_cases(2**20)),
                                                ("crc32 64 B", peers.crc_cases(64)))
         for name, fn in cases.items()]


@pytest.mark.parametrize("group, name, fn", CASES, ids=[f"{g}: {n}" for g, n, _ in CASES])
def test_bench(benchmark, group, name, fn):
    benchmark.group = group
    benchmark(fn)
