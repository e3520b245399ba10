"""The stubs type-check a user's code and every python example of the README and docs/,
and reject a wrong use."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# names the examples leave to the reader, declared as what they stand for
GIVEN = {"capture_bytes": "bytes", "capture": "bytes", "pool_id": "ap.InstrumentId"}


def _examples(doc: Path) -> str:
    """The python blocks of a document, in order, as one module (later blocks use the names
    of earlier ones), after `import alphapulse_codec as ap` and the GIVEN names it uses."""
    source = "\n".join(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S))
    given = [f"{name}: {kind}" for name, kind in GIVEN.items() if re.search(rf"\b{name}\b", source)]
    return "\n".join(["import alphapulse_codec as ap", *given, source]) if source else ""


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache new to this run, shared by its mypy runs: the first reads the standard library's
    and numpy's stubs, the others take them from it."""
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(path: Path, cache: Path) -> tuple[str, int]:
    # pandas and pyarrow ship no stubs: the examples read them as Any, and check our API
    stdout, stderr, status = api.run(["--strict", f"--cache-dir={cache}",
                                      "--follow-imports=silent",
                                      "--disable-error-code=import-untyped",
                                      str(path)])
    return stdout + stderr, status


def test_public_api_type_checks(mypy_cache):
    output, status = _mypy(HERE / "typing_check.py", mypy_cache)
    assert status == 0, output


@pytest.mark.parametrize("doc", [d for d in DOCS if _examples(d)], ids=lambda d: d.name)
def test_documented_examples_type_check(doc, tmp_path, mypy_cache):
    module = tmp_path / f"{doc.stem.replace('-', '_')}_examples.py"
    module.write_text(_examples(doc))
    output, status = _mypy(module, mypy_cache)
    numbered = "\n".join(f"{i:4} {line}" for i, line in enumerate(module.read_text().splitlines(), 1))
    assert status == 0, f"{output}\n{numbered}"


def test_a_wrong_use_is_reported(tmp_path, mypy_cache):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import alphapulse_codec as ap\n"
                     "aapl = ap.InstrumentId.stock(ap.VenueId.NASDAQ, 'AAPL')\n"
                     "price: str = ap.Trade(instrument_id=aapl, price=1, volume=1, side=1).price\n"
                     "ap.Trade(prise=1)\n"
                     "ap.Trade.encode(price=1)\n"
                     "ap.InstrumentId(1, 2, 3)\n"
                     "quote: ap.Quote = ap.Trade(instrument_id=aapl, price=1, volume=1,"
                     " side=1).replace(price=2)\n"
                     "header: ap.HeaderFields = {'sequence': 1, 'flags': 1}\n")
    output, status = _mypy(wrong, mypy_cache)
    assert status == 1
    assert 'Incompatible types in assignment (expression has type "int"' in output
    assert 'Unexpected keyword argument "prise"' in output
    assert 'Missing named argument "instrument_id" for "encode" of "Trade"' in output
    assert 'No overload variant of "InstrumentId" matches argument types "int", "int", "int"' in output
    assert 'expression has type "Trade", variable has type "Quote"' in output
    assert 'Extra key "flags" for TypedDict "HeaderFields"' in output
