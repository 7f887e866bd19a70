"""distractor: one needle to find among similar ones to ignore (VideoRoPE's V-NIAH-D).

The target sits at depth d; distractors sit at fixed depths (`distractor_depths`, default
evenly spread: (j+1)/(m+1)) whatever d, so every cell of an item sees the same distractors.
Item: `{"image", "question", "answer", "options"? | "choices"?, "distractors": [paths],
"distractor_depths"?}`.
Synthetic: the target is a coloured square ("What colour is the square?"), the distractors
coloured circles of the other colours (same size, same style, the asked-about colours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.tasks.folder import FolderContext, question, write_task
from longva.niah.tasks.spec import Insert, TaskItem
from longva.niah.tasks.synthetic import Drawer, ask, colour_options, colours

NAME = "distractor"


def load_item(row: dict, ctx: FolderContext, where: str, index: int) -> TaskItem:
    target = ctx.visual(row, "image", where)
    names = row.get("distractors")
    if not isinstance(names, list) or not names:
        raise InputError(f"{where} lacks a 'distractors' list of images")
    m = len(names)
    depths = row.get("distractor_depths") or [(j + 1) / (m + 1) for j in range(m)]
    if not isinstance(depths, list) or len(depths) != m:
        raise InputError(f"{where} distractor_depths must list one depth per distractor ({m})")
    fixed = tuple(
        Insert(ctx.visual({"d": name}, "d", f"{where} distractor {j}"), at=float(depths[j]))
        for j, name in enumerate(names)
    )
    item_id = str(row.get("id", Path(row["image"]).stem))
    return TaskItem(item_id, (Insert(target), *fixed), (question(row, where),))


def generate(out: Path, n: int = 4, size: int = 336, seed: int = 0, m: int = 2) -> Path:
    if not 1 <= m <= 6:
        raise InputError(f"distractors: m={m}; expected 1..6")
    rng = np.random.default_rng(seed)
    draw, rows = Drawer(Path(out), size, rng), []
    for i in range(n):
        target, *others = colours(rng, m + 1)
        rows.append(
            {
                "id": f"distractor_{i:03d}",
                "image": draw.needle("square", target),
                "distractors": [draw.needle("circle", c) for c in others],
                "question": ask("Find the frame with a square. What colour is the square?"),
                "answer": target,
                "choices": colour_options(rng, target),
            }
        )
    return write_task(Path(out), NAME, rows)
