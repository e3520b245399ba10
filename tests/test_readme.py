"""The README's usage example runs and prints what it says."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
