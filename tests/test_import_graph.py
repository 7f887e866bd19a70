"""The import graph of `src/longva`: no cycles, no private names across modules.

Every `import` / `from ... import` statement counts, at module level or inside a function (a
function-level import only hides a cycle until that function runs). An edge goes from a module
to every `longva` module it names; `from pkg import name` names `pkg.name` when that is a module,
else `pkg`. Tests are held to the same rule for private names: they exercise public functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_files(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module and package under src/longva."""
    out = {}
    for path in sorted((src / "longva").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(absolute module, imported name or None) of every import statement in `tree`."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out += [(source, alias.name) for alias in node.names]
    return out


def graph(src: Path) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> longva modules it imports, 'a imports _x from b' for private names)."""
    files = module_files(src)
    edges: dict[str, set[str]] = {m: set() for m in files}
    private = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for source, name in imported(tree, module, path.name == "__init__.py"):
            if source != "longva" and not source.startswith("longva."):
                continue
            if name is not None and f"{source}.{name}" in files:
                edges[module].add(f"{source}.{name}")
                continue
            target = source
            while target not in files and "." in target:
                target = target.rpartition(".")[0]
            edges[module].add(target)
            if name is not None and name.startswith("_") and not name.startswith("__"):
                private.append(f"{module} imports {name} from {source}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_module_and_function_level_imports():
    edges, _ = graph(SRC)
    assert len(edges) > 100 and "longva.niah.grid_run" in edges
    # `longva.cli` imports every command module inside its functions (fast `--help`)
    assert "longva.niah.cli" in edges["longva.cli"]


def test_no_import_cycles():
    edges, _ = graph(SRC)
    assert cycles(edges) == []


def test_no_private_names_imported_from_another_module():
    _, private = graph(SRC)
    assert private == []


def test_tests_import_no_private_names():
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py")):
        for source, name in imported(ast.parse(path.read_text(encoding="utf-8")), "tests", True):
            longva = source == "longva" or source.startswith("longva.")
            if longva and name and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{path.relative_to(ROOT)}: {name} from {source}")
    assert bad == []


def test_the_checks_catch_a_cycle_and_a_private_import(tmp_path):
    pkg = tmp_path / "longva"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from longva.a.y import g\n")
    (pkg / "a" / "y.py").write_text("from . import x\nfrom longva.b import _hidden\n")
    (pkg / "b.py").write_text("_hidden = 1\n")
    edges, private = graph(tmp_path)
    assert cycles(edges) == [["longva.a.x", "longva.a.y"]]
    assert private == ["longva.a.y imports _hidden from longva.b"]


@pytest.mark.parametrize("module", ["longva.niah.tasks.builder", "longva.recipes.evaluation"])
def test_edges_name_the_imported_modules(module):
    edges, _ = graph(SRC)
    assert all(target in edges for target in edges[module])
