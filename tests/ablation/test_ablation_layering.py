"""The ablation engine is generic and acyclic; the LongVA recipe reaches it only through its adapter.

Read from the source (every import, at module level or inside a function):
- the core `longva.ablation` imports nothing of the recipe or the model, only itself, `longva.errors`
  and `longva.utils`, and its code (string literals, docstrings aside) names no stage, config path
  or metric of the LongVA recipe;
- no import cycle among the core and adapter modules;
- no private name (`_x`) imported from another package;
- importing the adapter registers nothing: a new `Registry` is empty until `register` is called.
"""

from __future__ import annotations

import ast
from pathlib import Path

import longva

SRC = Path(longva.__file__).parent
CORE = SRC / "ablation"
ADAPTER = SRC / "recipes" / "ablation"
CORE_MAY_IMPORT = ("longva.ablation", "longva.errors", "longva.utils")
RECIPE_WORDS = ("v0_vision", "s0_text", "s1_long", "s2_align", "vniah", "V-NIAH", "video_qa_proxy", "RecipeConfig",
                "RecipeRunner", "model.pooling", "model.projector", "model.vision", "stages.", "eval.vniah")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [alias.name for alias in node.names]))
    return out


def code_strings(path: Path) -> list[str]:
    """String literals of the module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


FILES = sorted(CORE.glob("*.py")) + sorted(ADAPTER.glob("*.py"))


def test_the_core_imports_no_recipe():
    for path in sorted(CORE.glob("*.py")):
        for module, _ in imports(path):
            if module.startswith("longva"):
                assert module.startswith(CORE_MAY_IMPORT), f"{module_name(path)} imports {module}"


def test_the_core_names_nothing_of_the_longva_recipe():
    for path in sorted(CORE.glob("*.py")):
        found = [word for text in code_strings(path) for word in RECIPE_WORDS if word in text]
        assert not found, f"{module_name(path)}: {found}"


def test_no_import_cycles_and_no_private_names_across_packages():
    graph = {module_name(p): {m for m, _ in imports(p) if m.startswith("longva.")} for p in FILES}
    for path in FILES:
        here = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
        for module, names in imports(path):
            package = module if (SRC.parent / Path(*module.split("."))).is_dir() else module.rsplit(".", 1)[0]
            private = [n for n in names if n.startswith("_")]
            assert not private or package == here, f"{module_name(path)} imports {private} from {module}"

    def visit(node: str, trail: list[str]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join(trail[trail.index(node):] + [node])}"
        for nxt in graph.get(node, ()):
            if nxt in graph:
                visit(nxt, [*trail, node])

    for start in graph:
        visit(start, [])


def test_registration_is_explicit():
    import longva.recipes.ablation.adapter as adapter
    from longva.ablation.registry import Registry

    empty = Registry()
    assert not empty.knobs and not empty.metrics.specs and empty.target is None
    registry = adapter.register(Registry())
    assert "vision.pooling" in registry.knobs and "vniah" in registry.metrics.specs
    assert registry.target.primary == "vniah" and not Registry().knobs  # nothing leaked into new registries
