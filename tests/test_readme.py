"""The README's usage example runs and prints what it says."""
from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_usage_example_runs_as_written():
    block = re.search(r"## Use\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace = {"capture_bytes": b""}
    exec(compile(block, "README.md", "exec"), namespace)
    trade = namespace["trade"]
    shown = re.search(r"# (\(18925000000, .*\))", block).group(1)
    assert repr((trade.price, trade.instrument_id.debug_info(), trade.header.sequence)) == shown
