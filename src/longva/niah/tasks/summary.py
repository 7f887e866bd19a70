"""Scores of a task run: a question is right when every time it was asked is right.

Records carry `item` and `question` (and `rotation` under `--mode mc`); a grid point's score is
the mean over its (item, question) groups of "all of the group's cells correct". Without
rotations every group is one cell, so this is the original's mean over needles. Files as the
original: `all_accuracies.json`, `avg_accuracy.txt`, `heatmap.png`.
"""

from __future__ import annotations

from longva.niah.grid import DEPTH_DECIMALS, Grid
from longva.niah.layout import VNIAH
from longva.niah.results import ResultStore


def group_key(record: dict) -> tuple:
    if "item" in record:
        return (str(record["item"]), int(record.get("question", 0)))
    return (int(record["needle"]),)


def task_entries(records: list[dict], grid: Grid, cells_per_point: int) -> list[dict]:
    """The original's rows for every grid point whose cells are all finished."""
    points: dict[tuple, dict[tuple, list[bool]]] = {}
    for r in records:
        point = (int(r["frames"]), round(float(r["depth"]), DEPTH_DECIMALS))
        points.setdefault(point, {}).setdefault(group_key(r), []).append(bool(r["correct"]))
    entries = []
    for length, depth in grid.points():
        groups = points.get((length, round(depth, DEPTH_DECIMALS)), {})
        if sum(len(v) for v in groups.values()) < cells_per_point:
            continue
        score = sum(all(v) for v in groups.values()) / len(groups)
        entries.append(
            {VNIAH.x_column: length, VNIAH.y_column: round(depth * 100, -1), "Score": score}
        )
    return entries


def summarize_tasks(
    store: ResultStore, grid: Grid, cells_per_point: int, title: str | None = None
) -> dict:
    return store.write_summary(task_entries(store.records(), grid, cells_per_point), grid, title)