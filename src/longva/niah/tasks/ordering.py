"""ordering: which of two needles came first (V-RULER's ordering).

The first-listed image sits at depth d/2, the second at d/2 + 1/2, so the order holds at
every depth. Item: `{"images": [first, second], "names": [name of first, name of second],
"question"?, "choices"?}`; the answer is the first's name; the default question names the two
in the order of `choices` (default: alphabetical, so the listed-first is not always the answer),
which `--mode mc` also rotates.
Synthetic: two shapes of different outline and colour ("the red square", "the blue circle").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.tasks.folder import FolderContext, question, write_task
from longva.niah.tasks.spec import Insert, TaskItem
from longva.niah.tasks.synthetic import Drawer, ask, colours, shapes

NAME = "ordering"


def default_question(options: list[str]) -> str:
    return ask(f"Which appeared first in the video: {options[0]} or {options[1]}?")


def load_item(row: dict, ctx: FolderContext, where: str, index: int) -> TaskItem:
    images, names = row.get("images"), row.get("names")
    ok = isinstance(images, list) and isinstance(names, list) and len(images) == len(names) == 2
    if not ok or not all(isinstance(n, str) for n in names):
        raise InputError(f"{where} needs 'images' and 'names': two of each (first shown first)")
    first = ctx.visual({"i": images[0]}, "i", f"{where} images[0]")
    second = ctx.visual({"i": images[1]}, "i", f"{where} images[1]")
    order = row.get("choices") or sorted(names)
    if sorted(order) != sorted(names):
        raise InputError(f"{where} choices {order} must be the two names {names}")
    q = question(
        {**row, "choices": order},
        where,
        default_answer=names[0],
        default_text=default_question(order),
    )
    item_id = str(row.get("id", f"{names[0]}_before_{names[1]}"))
    return TaskItem(item_id, (Insert(first, 0.0), Insert(second, 0.5)), (q,))


def generate(out: Path, n: int = 4, size: int = 336, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    draw, rows = Drawer(Path(out), size, rng), []
    for i in range(n):
        pair = list(zip(shapes(rng, 2), colours(rng, 2), strict=True))
        names = [f"the {c.lower()} {s}" for s, c in pair]
        rows.append(
            {
                "id": f"ordering_{i:03d}",
                "images": [draw.needle(s, c) for s, c in pair],
                "names": names,
                "choices": sorted(names),
            }
        )
    return write_task(Path(out), NAME, rows)
