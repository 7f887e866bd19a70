"""single: one needle at depth d, one question (the original V-NIAH).

Real needles: the existing needle folders (`needles.jsonl` or the original `dataset.json`, see
`longva.niah.needles`) or a `task.json` with `{"image", "question", "answer", "options"?}` rows.
Synthetic: `synthetic_needles.generate_needles` (squares, objects, digits, signs).
"""

from __future__ import annotations

from pathlib import Path

from longva.errors import InputError
from longva.niah.needles import OPTION_LETTERS, load_needles
from longva.niah.tasks.folder import TASK_FILE, FolderContext, question, read_rows, taskset
from longva.niah.tasks.spec import Insert, Question, TaskItem, TaskSet

NAME = "single"


def load_item(row: dict, ctx: FolderContext, where: str, index: int) -> TaskItem:
    visual = ctx.visual(row, "image", where)
    item_id = str(row.get("id", Path(row["image"]).stem))
    return TaskItem(item_id, (Insert(visual),), (question(row, where),))


def load(folder) -> TaskSet:
    folder = Path(folder)
    if (folder / TASK_FILE).is_file():
        ctx, rows = read_rows(folder, NAME)
        where = folder / TASK_FILE
        return taskset(
            NAME, ctx, [load_item(r, ctx, f"{where} item {i}", i) for i, r in enumerate(rows)]
        )
    if folder.is_dir() and not any(
        (folder / f).is_file() for f in ("needles.jsonl", "dataset.json")
    ):
        raise InputError(
            f"needle folder {str(folder)!r} has no {TASK_FILE}, needles.jsonl or dataset.json;"
            " expected the single task's JSON next to its images"
        )
    needles = load_needles(folder)  # needles.jsonl / dataset.json, with their own errors
    items = []
    for n, needle in enumerate(needles):
        answer = needle.answer
        if needle.options:  # keep the option text; the letter is worked out when asked
            answer = needle.options[OPTION_LETTERS.index(answer)]
        items.append(
            TaskItem(needle.id, (Insert(n),), (Question(needle.question, answer, needle.options),))
        )
    return TaskSet(NAME, tuple(n.image for n in needles), tuple(items))


def generate(out: Path, n: int = 5, size: int = 336, seed: int = 0, **options) -> Path:
    from longva.niah.synthetic_needles import generate_needles

    return generate_needles(out, n, size, seed=seed, **options)
