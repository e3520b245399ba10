"""docs/cookbook.md runs: its Python blocks in order, in one namespace, and its command lines."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from alphapulse_codec.cli import main

COOKBOOK = Path(__file__).resolve().parent.parent / "docs" / "cookbook.md"
BLOCK = re.compile(r"^```(python|console)\n(.*?)^```", re.S | re.M)


def test_the_cookbook_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(COOKBOOK.read_text())
    assert [kind for kind, _ in blocks].count("python") >= 4
    namespace: dict = {"__name__": "cookbook"}
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, str(COOKBOOK), "exec"), namespace)
            continue
        for line in code.splitlines():
            argv = shlex.split(line)
            assert argv[0] == "alphapulse", line
            assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
    assert "BatchResult(Trade=5, InstrumentDiscovered=1, errors=0)" in capsys.readouterr().out
