"""The stubs type-check a user's code, and reject a wrong use."""
from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")
HERE = Path(__file__).resolve().parent


def _mypy(path: Path) -> tuple[str, int]:
    stdout, stderr, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                                      str(path)])
    return stdout + stderr, status


def test_public_api_type_checks():
    output, status = _mypy(HERE / "typing_check.py")
    assert status == 0, output


def test_a_wrong_use_is_reported(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import alphapulse_codec as ap\n"
                     "price: str = ap.Trade(price=1).price\n"
                     "ap.Trade(prise=1)\n")
    output, status = _mypy(wrong)
    assert status == 1
    assert 'Incompatible types in assignment (expression has type "int"' in output
    assert 'Unexpected keyword argument "prise"' in output
