"""Build the sdist and the wheel with `python -m build` (the wheel from the sdist, so that the
sdist is known to build), check what each holds, and print their sizes (`make dist`).

The wheel: the compiled modules without debug information, the stubs and py.typed, the Python
modules, the LICENSE; no Cython or C sources, no C file Cython generated.
The sdist: every tracked file of the package, docs/, tests/ (data and conftest included),
tools/, fuzz/ and benchmarks/, the LICENSE; no compiled module, no generated C.

--test-sdist also unpacks the sdist, builds it in place and runs its test suite there
(`make check-sdist`).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "alphapulse_codec"
BUILD_SOURCES = {".pyx", ".pxi", ".pxd", ".c", ".h", ".html"}
SDIST_FOLDERS = ("alphapulse_codec", "docs", "tests", "tools", "fuzz", "benchmarks")
SDIST_FILES = ("LICENSE", "README.md", "Makefile", "setup.py", "pyproject.toml", "MANIFEST.in")


def build(outdir: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
                   check=True)
    (wheel,), (sdist,) = outdir.glob("*.whl"), outdir.glob("*.tar.gz")
    return wheel, sdist


def check_wheel(wheel: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        modules = [n for n in names if n.startswith(f"{PACKAGE}/wire/_codec.")
                   and n.endswith((".so", ".pyd"))]
        if len(modules) != 1:
            problems.append(f"wheel: expected one compiled _codec module, found {modules}")
        for needed in (f"{PACKAGE}/wire/_codec.pyi", f"{PACKAGE}/py.typed"):
            if needed not in names:
                problems.append(f"wheel: {needed} missing")
        if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
            problems.append("wheel: no LICENSE in its .dist-info")
        for name in names:
            path = PurePosixPath(name)
            if path.suffix in BUILD_SOURCES:
                problems.append(f"wheel: build source {name} should be in the sdist only")
            if path.parts[0] != PACKAGE and not path.parts[0].endswith(".dist-info"):
                problems.append(f"wheel: {name} is outside the package")
        python = {n for n in names if n.endswith(".py")}
        for source in sorted((ROOT / PACKAGE).rglob("*.py")):
            name = source.relative_to(ROOT).as_posix()
            if name not in python:
                problems.append(f"wheel: module {name} missing")
        if modules:
            problems += debug_sections(archive.read(modules[0]), modules[0])
    return problems


def debug_sections(module: bytes, name: str) -> list[str]:
    """The module's debug sections, as readelf lists them (ELF builds only)."""
    if not module.startswith(b"\x7fELF") or shutil.which("readelf") is None:
        print(f"{name}: not an ELF file or no readelf here: its debug sections are not checked")
        return []
    with tempfile.NamedTemporaryFile(suffix=".so") as copy:
        copy.write(module)
        copy.flush()
        listing = subprocess.run(["readelf", "--section-headers", "--wide", copy.name],
                                 check=True, capture_output=True, text=True).stdout
    found = sorted({word for word in listing.split() if word.startswith(".debug_")})
    return [f"wheel: {name} keeps its debug information ({', '.join(found)})"] if found else []


def check_sdist(sdist: Path) -> list[str]:
    problems = []
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        names = {PurePosixPath(n).relative_to(top).as_posix() for n in archive.getnames()
                 if n != top}
    tracked = subprocess.run(["git", "ls-files", *SDIST_FOLDERS, *SDIST_FILES], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.split()
    for name in [*tracked, *SDIST_FILES]:
        if name not in names and (ROOT / name).is_file():
            problems.append(f"sdist: {name} missing")
    for name in sorted(names):
        if name.endswith((".so", ".pyd")) or name == f"{PACKAGE}/wire/_codec.c":
            problems.append(f"sdist: {name} is a build product")
    return problems


def test_sdist(sdist: Path, work: Path) -> int:
    """Build the unpacked sdist in place and run its tests there, with nothing of the
    repository on the path."""
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    root = work / sdist.name.removesuffix(".tar.gz")
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2"], cwd=root,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    where = subprocess.run([sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
                           cwd=root, env=env, check=True, capture_output=True, text=True)
    if not Path(where.stdout.strip()).is_relative_to(root):
        print(f"the tests would import {where.stdout.strip()}, not the sdist's package")
        return 1
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
                          cwd=root, env=env).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist",
                        help="where the sdist and the wheel are written (default dist/)")
    parser.add_argument("--test-sdist", action="store_true",
                        help="also run the test suite from the unpacked, in-place built sdist")
    options = parser.parse_args()
    shutil.rmtree(options.outdir, ignore_errors=True)
    wheel, sdist = build(options.outdir)
    problems = check_wheel(wheel) + check_sdist(sdist)
    with zipfile.ZipFile(wheel) as archive:
        modules = [i for i in archive.infolist() if i.filename.endswith((".so", ".pyd"))]
    unpacked = ", ".join(f"{i.filename.split('.')[0].replace('/', '.')} {i.file_size:,}"
                         for i in modules)
    print(f"wheel: {wheel.name}: {wheel.stat().st_size:,} bytes (compiled modules, bytes"
          f" unpacked: {unpacked})")
    print(f"sdist: {sdist.name}: {sdist.stat().st_size:,} bytes")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print("wheel and sdist hold what they should")
    if options.test_sdist:
        with tempfile.TemporaryDirectory() as work:
            return test_sdist(sdist, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
