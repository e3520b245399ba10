"""pytest-benchmark cases: the codec and each peer on the same work, grouped by the work."""
from __future__ import annotations

import peers
import pytest

CASES = [(group, name, fn) for group, cases in peers.all_cases().items()
         for name, fn in cases.items()]


def test_every_side_of_a_case_does_the_same_work():
    peers.check_whole_cases()


@pytest.mark.parametrize("group, name, fn", CASES, ids=[f"{g}: {n}" for g, n, _ in CASES])
def test_bench(benchmark, group, name, fn):
    benchmark.group = group
    benchmark(fn)
