"""V-NIAH task families as data, each a module with a loader for real needles (`load_item`
over a folder's `task.json`) and a generator of synthetic ones (`generate`):

    single      one needle at depth d, one question (the original V-NIAH)
    multi       k needles in one video, each asked (V-RULER multi-key)
    distractor  one needle among similar ones to ignore (V-NIAH-D)
    counting    how many times a needle appears (V-RULER counting)
    ordering    which of two needles came first (V-RULER ordering)

`builder.build_vniah` turns tokenised items into evaluator cells and sources for any of them.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from longva.errors import InputError
from longva.niah.tasks.spec import TaskSet

TASKS = ("single", "multi", "distractor", "counting", "ordering")


def family(name: str):
    """The module of task family `name`."""
    if name not in TASKS:
        raise InputError(f"--task {name!r} is unknown; expected one of {', '.join(TASKS)}")
    return import_module(f"longva.niah.tasks.{name}")


def load_task(folder: str | Path, name: str) -> TaskSet:
    """Real needles of task `name` from a folder (images/clips + its JSON)."""
    from longva.niah.tasks.folder import read_rows, taskset
    from longva.niah.tasks.spec import check_item

    module = family(name)
    if hasattr(module, "load"):
        return module.load(folder)
    ctx, rows = read_rows(folder, name)
    where = Path(folder) / "task.json"
    items = [module.load_item(row, ctx, f"{where} item {i}", i) for i, row in enumerate(rows)]
    items = [check_item(it, len(ctx.visuals), f"{where} item {i}") for i, it in enumerate(items)]
    return taskset(name, ctx, items)


def generate_task(name: str, out: str | Path, **options) -> Path:
    """Write synthetic needles of task `name` into `out` (images + JSON)."""
    return family(name).generate(Path(out), **options)
