"""What installing the package brings: numpy alone for the codec, an extra for each feature
that needs more (a clear message naming it where it is missing), and a test extra that brings
everything the tests use. The wheel and the sdist are checked by `make dist`
(tools/check_dist.py)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from alphapulse_codec.wire.optional import OPTIONAL

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VECTORS = ROOT / "tests" / "data" / "peer-v1.bin"


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def _extra(name: str) -> set[str]:
    """The distributions an extra brings, with those of the package's own extras it names."""
    found = set()
    for text in PROJECT["optional-dependencies"][name]:
        requirement = Requirement(text)
        if requirement.name == PROJECT["name"]:
            for extra in requirement.extras:
                found |= _extra(extra)
        else:
            found.add(requirement.name.lower())
    return found


def without(modules: list[str], code: str, *args: str) -> subprocess.CompletedProcess:
    """`code` run in a fresh interpreter where importing any of `modules` fails, as when
    they are not installed."""
    hide = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run([sys.executable, "-c", hide + code, *args], capture_output=True,
                          text=True)


CLI = "import runpy, sys\nsys.argv = ['alphapulse', *sys.argv[1:]]\n" \
      "runpy.run_module('alphapulse_codec', run_name='__main__')"


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    return stderr.strip()


def test_the_codec_needs_numpy_alone():
    assert _names(PROJECT["dependencies"]) == {"numpy"}
    code = """
import alphapulse_codec as ap
frame = ap.Trade.encode(instrument_id=ap.InstrumentId.stock(ap.VenueId.NASDAQ, "AAPL"),
                        price=18_925_000_000, volume=100, side=ap.Side.Buy, sequence=1)
assert ap.decode(frame).price == 18_925_000_000
result = ap.decode_batch(frame * 3)
assert len(result) == 3 and not result.errors
print("ok")
"""
    result = without(sorted(OPTIONAL), code)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_each_extra_brings_what_the_code_asks_for_and_the_test_extra_brings_them_all():
    asked: dict[str, set[str]] = {}
    for distribution, extra in OPTIONAL.values():
        asked.setdefault(extra, set()).add(distribution.lower())
    for extra, distributions in asked.items():
        assert _names(PROJECT["optional-dependencies"][extra]) == distributions, extra
    assert set().union(*asked.values()) <= _extra("test")


SCRIPT_FOLDERS = ("tests", "fuzz", "benchmarks", "tools")


def _third_party_imports(folder: Path) -> set[str]:
    # the scripts import each other (the fuzz harnesses' targets, say) by putting a folder on
    # the path; _typeshed exists for type checkers alone
    local = {p.stem for f in SCRIPT_FOLDERS for p in (ROOT / f).rglob("*.py")}
    local |= {"alphapulse_codec", "_typeshed"}
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("importorskip"):
                found.add(ast.literal_eval(node.args[0]).split(".")[0])
    return found - local - set(sys.stdlib_module_names)


@pytest.mark.parametrize("folder", SCRIPT_FOLDERS)
def test_the_test_extra_brings_every_package_the_tests_import(folder):
    distributions = packages_distributions()
    needed = {distributions[m][0].lower().replace("_", "-")
              for m in _third_party_imports(ROOT / folder)}
    brought = {name.replace("_", "-") for name in _extra("test") | _names(PROJECT["dependencies"])}
    assert needed - brought == set()


def test_the_command_without_rich_names_the_cli_extra():
    for argv in (["--help"], ["stats", str(VECTORS)]):
        result = without(["rich"], CLI, *argv)
        assert result.returncode == 2, result.stderr
        assert one_line(result.stderr) == (
            "alphapulse: error: the alphapulse command needs rich, which is not installed:"
            " pip install 'alphapulse_codec[cli]'")


def test_yaml_schema_files_without_pyyaml_name_the_yaml_extra(tmp_path):
    schemas = tmp_path / "schemas.yaml"
    schemas.write_text("- {message_type: 220, version: 1, name: Tick, fields: [[n, u8]]}\n")
    result = without(["yaml"], CLI, "decode", str(VECTORS), "--schemas", str(schemas))
    assert result.returncode == 2 and result.stdout == ""
    assert one_line(result.stderr).endswith(
        "reading YAML schema files needs PyYAML, which is not installed:"
        " pip install 'alphapulse_codec[yaml]'")
    api = """
import sys
import alphapulse_codec as ap
for call in (lambda: ap.Registry().load(sys.argv[1]), lambda: ap.load_schemas(sys.argv[1]),
             lambda: ap.Registry().save(sys.argv[1] + ".out.yaml")):
    try:
        call()
    except ap.MissingExtraError as error:
        assert isinstance(error, ImportError) and error.extra == "yaml" and error.name == "yaml"
        print(error)
"""
    result = without(["yaml"], api, str(schemas))
    assert result.returncode == 0, result.stderr
    assert [re.sub(r"^(reading|writing) ", "", line) for line in result.stdout.splitlines()] == [
        "YAML schema files needs PyYAML, which is not installed:"
        " pip install 'alphapulse_codec[yaml]'"] * 3
    assert not (tmp_path / "schemas.yaml.out.yaml").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_arrow_files_without_pyarrow_name_the_arrow_extra_before_reading(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    # the capture is stdin, never written nor closed: the refusal comes before any read
    reader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              stdout=subprocess.PIPE)
    try:
        result = subprocess.run(
            [sys.executable, "-c", "import sys\nsys.modules['pyarrow'] = None\n" + CLI,
             "decode", "-", "--to", str(out)],
            stdin=reader.stdout, capture_output=True, text=True, timeout=120)
    finally:
        reader.kill()
        reader.wait()
    assert result.returncode == 2 and not list(tmp_path.iterdir())
    assert one_line(result.stderr) == (
        f"alphapulse: error: writing {suffix} files needs pyarrow, which is not installed:"
        " pip install 'alphapulse_codec[arrow]'")


def test_the_formats_of_numpy_alone_need_no_extra(tmp_path):
    for name, flags in (("out.csv", ["--raw"]), ("out.npz", []), ("out.jsonl", [])):
        result = without(["pyarrow", "pandas", "yaml"], CLI, "decode", str(VECTORS),
                         "--types", "Trade", "--to", str(tmp_path / name), *flags)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).stat().st_size > 0


def test_readable_csv_without_pyarrow_names_the_arrow_extra(tmp_path):
    result = without(["pyarrow", "pandas"], CLI, "decode", str(VECTORS), "--types", "Trade",
                     "--to", str(tmp_path / "out.csv"))
    assert result.returncode == 2 and not list(tmp_path.iterdir())
    assert "writing readable .csv files (--raw needs numpy alone) needs pyarrow" in result.stderr
    assert "pip install 'alphapulse_codec[arrow]'" in result.stderr


def test_to_pandas_without_pandas_names_the_arrow_extra():
    code = ("import sys\nsys.modules['pandas'] = None\nimport alphapulse_codec as ap\n"
            f"result = ap.decode_batch(open({str(VECTORS)!r}, 'rb').read())\n"
            "try:\n    result.to_pandas('Trade')\n"
            "except ap.MissingExtraError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "to_pandas needs pandas, which is not installed" in result.stdout, result.stderr


def test_the_docs_point_to_no_file_outside_the_repository():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        relative = re.findall(r"(?<![\w/.])((?:\.\./)+[\w./-]*)", text)
        linked = [t for t in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in t]
        for target in relative + linked:
            where = (doc.parent / target).resolve()
            assert where.is_relative_to(ROOT) and where.exists(), (doc.name, target)


def test_the_license_is_mit_by_the_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "The alphapulse_codec authors" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
