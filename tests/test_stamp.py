"""Generated code cannot go stale: every generated file carries the hash of the layout sources
it came from, and both the build and the import refuse a mismatch."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from alphapulse_codec.wire import _codec
from alphapulse_codec.wire.stamp import layout_sources_hash, stamp_of

ROOT = Path(__file__).resolve().parent.parent
WIRE = ROOT / "alphapulse_codec" / "wire"
GENERATED = [WIRE / "_c" / "wire.h", WIRE / "_wire.pxd", WIRE / "_messages.pxi",
             WIRE / "_codec.pyi", ROOT / "docs" / "protocol.md"]


def test_every_generated_file_carries_the_current_stamp():
    current = layout_sources_hash()
    assert {p.name: stamp_of(p.read_text()) for p in GENERATED} == {p.name: current for p in GENERATED}
    assert _codec.GENERATED_FROM == current


def _copy_with_edited_layouts(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "alphapulse_codec", copy / "alphapulse_codec",
                    ignore=shutil.ignore_patterns("__pycache__", "*.c"))
    shutil.copy(ROOT / "setup.py", copy / "setup.py")
    with open(copy / "alphapulse_codec" / "wire" / "layouts.py", "a") as layouts:
        layouts.write("\n# an edit that the generated code has not seen\n")
    return copy


def test_import_refuses_a_core_generated_from_other_layouts(tmp_path):
    copy = _copy_with_edited_layouts(tmp_path)
    result = subprocess.run([sys.executable, "-c", "import alphapulse_codec"], cwd=copy,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "ImportError" in result.stderr and "run `make generate` and rebuild" in result.stderr


def test_the_build_refuses_stale_generated_files(tmp_path):
    copy = _copy_with_edited_layouts(tmp_path)
    result = subprocess.run([sys.executable, "setup.py", "--name"], cwd=copy,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "not generated from the current layouts.py" in result.stderr
    assert "alphapulse_codec/wire/_messages.pxi" in result.stderr
