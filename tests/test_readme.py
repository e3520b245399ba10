"""The README's usage example runs and prints what it says."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from relays import start

README_PATH = Path(__file__).resolve().parent.parent / "README.md"
README = README_PATH.read_text()


def test_usage_example_runs_as_written():
    block = re.search(r"## Use\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace = {"capture_bytes": b""}
    exec(compile(block, "README.md", "exec"), namespace)
    trade = namespace["trade"]
    shown = re.search(r"# (\(18925000000, .*\))", block).group(1)
    assert repr((trade.price, trade.instrument_id.debug_info(), trade.header.sequence)) == shown


def test_schema_examples_run_as_written():
    """The run-time schema examples of the README and docs/registry.md, each in a fresh process
    (they register in the default registry)."""
    registry_doc = (README_PATH.parent / "docs" / "registry.md").read_text()
    for text, heading, check in (
            (README, "## Schemas at run time", "print(ap.decode(frame).score, ap.decode(announcement).spec[:9])"),
            (registry_doc, "# Schemas at run time", "print(ap.decode(frame).score, ap.dtype(201).itemsize)")):
        block = re.search(heading + r"\n\n.*?```python\n(.*?)```", text, re.S).group(1)
        source = "import alphapulse_codec as ap\n" + block + check
        run = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split()[0] == "-12"


RELAY_ROWS = """\
import numpy as np
import alphapulse_codec as ap
rows = np.zeros(3, dtype=ap.dtype(ap.MessageType.Trade))
rows["price"], rows["volume"], rows["side"] = [100, 101, 102], 5, 1
"""


def test_relay_example_runs_as_written(runtime_dir):
    """The relays' example, with the default runtime directory ($XDG_RUNTIME_DIR/alphapulse)
    of a relay started for it: the consumer gets the Trades the producer sent."""
    block = re.search(r"## Relays\n\n```sh\n.*?```\n\n```python\n(.*?)```", README, re.S).group(1)
    relay = start("market_data", runtime_dir / "alphapulse")
    try:
        run = subprocess.run([sys.executable, "-c", RELAY_ROWS + block + "print(batch)"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)})
    finally:
        relay.kill()
    assert run.returncode == 0, run.stderr
    assert run.stdout == "BatchResult(Trade=3, errors=0)\n"
