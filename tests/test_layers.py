"""The package's layers: no import cycles, and no import from a lower layer to a higher one.

wire <- schemas <- capture, relay <- transport <- samples <- cli (a transport may use the
relay's clients, Gap and policies; the relay never imports a transport); the top-level
package re-exports from all of them. Imports under TYPE_CHECKING count for the
layering (a type is a dependency too) but not for cycles (they never run).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alphapulse_codec"
ROOT_NAME = "alphapulse_codec"
LAYERS = {"wire": 0, "schemas": 1, "capture": 2, "relay": 2, "transport": 3, "samples": 4,
          "cli": 5}
FACADE = max(LAYERS.values()) + 1  # alphapulse_codec/__init__.py and __main__.py
CYTHON_IMPORT = re.compile(r"^\s*(from\s+(\S+)\s+c?import\s+(.+)|c?import\s+(\S+))", re.MULTILINE)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.stem == "__init__" else name.rpartition(".")[0]


def _absolute(path: Path, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    base = _package_of(path).split(".")
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


MODULE_FILES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx"))
# the .pxi parts are included into _codec.pyx: their imports are its imports
INCLUDED = {p: PACKAGE / "wire" / "_codec.pyx" for p in PACKAGE.rglob("*.pxi")}
MODULES = {module_name(p) for p in MODULE_FILES}


def _targets(base: str, names: list[str]) -> set[str]:
    """What `from base import names` loads: the submodules named, else base itself."""
    submodules = {f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES}
    return submodules or {base}


def _python_imports(path: Path) -> list[tuple[str, bool]]:
    """(module, under TYPE_CHECKING) for every package-internal import of a .py file."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _absolute(path, node.level, node.module)
            targets = _targets(base, [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            targets = {a.name for a in node.names}
        else:
            continue
        found += [(t, id(node) in type_only) for t in targets if t.split(".")[0] == ROOT_NAME]
    return found


def _cython_imports(path: Path) -> list[tuple[str, bool]]:
    found = []
    for match in CYTHON_IMPORT.finditer(path.read_text()):
        if match.group(2):
            level = len(match.group(2)) - len(match.group(2).lstrip("."))
            base = _absolute(INCLUDED.get(path, path), level, match.group(2).lstrip(".") or None)
            names = [n.strip(" ()\\").split(" as ")[0] for n in match.group(3).split(",")]
            targets = _targets(base, names)
        else:
            targets = {match.group(4)}
        found += [(t, False) for t in targets if t.split(".")[0] == ROOT_NAME]
    return found


def imports() -> dict[str, list[tuple[str, bool]]]:
    graph: dict[str, list[tuple[str, bool]]] = {}
    for path in MODULE_FILES + sorted(INCLUDED):
        owner = module_name(INCLUDED.get(path, path))
        read = _python_imports if path.suffix == ".py" else _cython_imports
        graph.setdefault(owner, []).extend(read(path))
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 and parts[1] in LAYERS else FACADE


def test_every_subpackage_is_a_known_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages <= set(LAYERS), subpackages - set(LAYERS)
    assert {"wire", "schemas", "capture", "samples", "cli"} <= subpackages


def test_the_walk_sees_the_imports_it_checks():
    graph = imports()
    assert ("alphapulse_codec.wire.enums", False) in graph["alphapulse_codec.wire._codec"]
    assert ("alphapulse_codec.schemas.registry", False) in graph["alphapulse_codec.capture.batch"]
    assert ("alphapulse_codec.capture.batch", True) in graph["alphapulse_codec.capture.export"]


def test_no_layer_imports_a_higher_one():
    upward = [f"{module} imports {target}"
              for module, targets in imports().items() for target, _ in targets
              if layer(target) > layer(module)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = {m: sorted({t for t, type_only in ts if not type_only and t != m})
             for m, ts in imports().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in graph.get(module, []):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", ["decode_batch", "iter_batches", "encode_batch", "BatchResult",
                                  "ObjectCache", "Registry", "Schema", "decode", "Trade"])
def test_what_users_reach_for_is_at_the_top_level(name):
    import alphapulse_codec as ap

    assert name in ap.__all__ and getattr(ap, name) is not None


def test_internals_are_not_at_the_top_level():
    import alphapulse_codec as ap

    assert not hasattr(ap, "SchemaField") and "SchemaField" not in ap.__all__
