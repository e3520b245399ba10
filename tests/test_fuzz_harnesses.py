"""Each atheris harness of fuzz/ runs a short while over its committed corpus, in a
subprocess: any crash or exception that the target does not allow fails the test."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
from targets import TARGETS  # noqa: E402

RUNS = 400   # executions per target, the corpus included


def test_every_harness_runs_its_corpus_and_mutations_without_a_finding(tmp_path):
    env = dict(os.environ, FUZZ_INSTRUMENT="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    runs = {}
    for target in TARGETS:
        work = tmp_path / target
        work.mkdir()
        # new inputs go to the first folder, not into the committed corpus
        runs[target] = subprocess.Popen(
            [sys.executable, str(ROOT / "fuzz" / "run.py"), target, str(work),
             str(ROOT / "fuzz" / "corpus" / target), f"-runs={RUNS}", "-seed=1",
             f"-artifact_prefix={work}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    for target, process in runs.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{target}:\n{output[-3000:]}"
        assert f"Done {RUNS} runs" in output, f"{target}:\n{output[-3000:]}"
        assert not list((tmp_path / target).glob("crash-*")), target
