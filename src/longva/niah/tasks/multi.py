"""multi: k needles in one video, each asked on its own (V-RULER's multi-key retrieval).

Needle j sits at depth d/k + j/k: the k needles keep equal spacing and sweep the haystack.
Item: `{"needles": [{"image", "question", "answer", "options"? | "choices"?}, ...]}` (k of them).
Synthetic: k shapes of different outline, each a random colour; "What colour is the <shape>?".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.tasks.folder import FolderContext, question, write_task
from longva.niah.tasks.spec import Insert, TaskItem
from longva.niah.tasks.synthetic import Drawer, ask, colour_options, colours, shapes

NAME = "multi"


def load_item(row: dict, ctx: FolderContext, where: str, index: int) -> TaskItem:
    needles = row.get("needles")
    if (
        not isinstance(needles, list)
        or not needles
        or not all(isinstance(x, dict) for x in needles)
    ):
        raise InputError(f"{where} lacks a 'needles' list of {{image, question, answer}} objects")
    k = len(needles)
    inserts = tuple(
        Insert(ctx.visual(x, "image", f"{where} needle {j}"), j / k) for j, x in enumerate(needles)
    )
    questions = tuple(question(x, f"{where} needle {j}") for j, x in enumerate(needles))
    return TaskItem(str(row.get("id", f"{NAME}_{index:03d}")), inserts, questions)


def generate(out: Path, n: int = 4, size: int = 336, seed: int = 0, k: int = 3) -> Path:
    if not 2 <= k <= 6:
        raise InputError(f"multi-needle: k={k}; expected 2..6 (one shape outline per needle)")
    rng = np.random.default_rng(seed)
    draw, rows = Drawer(Path(out), size, rng), []
    for i in range(n):
        needles = []
        for shape, colour in zip(shapes(rng, k), colours(rng, k), strict=True):
            needles.append(
                {
                    "image": draw.needle(shape, colour),
                    "question": ask(f"Find the frame with a {shape}. What colour is the {shape}?"),
                    "answer": colour,
                    "choices": colour_options(rng, colour),
                }
            )
        rows.append({"id": f"multi_{i:03d}", "needles": needles})
    return write_task(Path(out), NAME, rows)
