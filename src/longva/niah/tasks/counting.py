"""counting: how many times a needle appears (V-RULER's counting).

The needle appears `count` times, at depths d/c + j/c (j < c): evenly spaced, sweeping the
haystack with d. Item: `{"image", "count", "question", "answer"? (default the count),
"options"? | "choices"?}`. Synthetic: a coloured shape shown 1..max_count times; "How many
times does a red star appear in the video?", choices: four consecutive numbers around it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.tasks.folder import FolderContext, question, write_task
from longva.niah.tasks.spec import Insert, TaskItem
from longva.niah.tasks.synthetic import NUMBER, Drawer, ask, colours, shapes

NAME = "counting"


def load_item(row: dict, ctx: FolderContext, where: str, index: int) -> TaskItem:
    visual = ctx.visual(row, "image", where)
    count = row.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InputError(f"{where} count {count!r}: expected an integer >= 1")
    inserts = tuple(Insert(visual, j / count) for j in range(count))
    item_id = str(row.get("id", f"{Path(row['image']).stem}_x{count}"))
    return TaskItem(item_id, inserts, (question(row, where, default_answer=str(count)),))


def generate(out: Path, n: int = 4, size: int = 336, seed: int = 0, max_count: int = 4) -> Path:
    if not 1 <= max_count <= 9:
        raise InputError(f"counting: max_count={max_count}; expected 1..9")
    rng = np.random.default_rng(seed)
    draw, rows = Drawer(Path(out), size, rng), []
    for i in range(n):
        shape, colour = shapes(rng, 1)[0], colours(rng, 1)[0]
        count = 1 + i % max_count if n >= max_count else int(rng.integers(1, max_count + 1))
        low = max(1, min(count - int(rng.integers(0, 4)), 6))  # 4 choices in 1..9 around count
        rows.append(
            {
                "id": f"counting_{i:03d}",
                "image": draw.needle(shape, colour),
                "count": count,
                "question": ask(
                    f"How many times does a {colour.lower()} {shape} appear in the video?", NUMBER
                ),
                "answer": str(count),
                "choices": [str(low + j) for j in range(4)],
            }
        )
    return write_task(Path(out), NAME, rows)
