"""Result files of a NIAH run: per-cell JSONL (resumable) and the original's summaries.

- `cells.jsonl` (`cells.rank{r}.jsonl` under torchrun): one line per (needle, length, depth),
  appended with one write + fsync as each cell finishes, so `kill -9` loses at most the cell in
  flight; a rerun reads every `cells*.jsonl` and skips finished cells.
- `all_accuracies.json`: the original's list of `{"Num. Frame", "Frame Depth", "Score"}` (text
  NIAH: `{"Context Length", "Document Depth", "Score"}`) in its loop order, `Frame Depth =
  round(d * 100, -1)`, `Score` = mean over needles; `avg_accuracy.txt` ("Average Accuracy: x");
  `heatmap.png`.
- `run.json`: what the results depend on (model, haystack, needles, mode, RoPE base...). A rerun
  with other settings in the same folder is refused instead of mixing two runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from longva.errors import InputError
from longva.niah.grid import DEPTH_DECIMALS, Grid
from longva.niah.layout import Layout
from longva.niah.plot import plot_heatmap
from longva.utils.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl


def cell_key(needle: int, length: int, depth: float) -> tuple[int, int, float]:
    return (int(needle), int(length), round(float(depth), DEPTH_DECIMALS))


class ResultStore:
    def __init__(
        self, out_dir: str | os.PathLike, layout: Layout, rank: int = 0, world_size: int = 1
    ):
        self.out = Path(out_dir)
        self.layout = layout
        name = "cells.jsonl" if world_size == 1 else f"cells.rank{rank}.jsonl"
        self.path = self.out / name

    def check_run(self, settings: dict) -> None:
        """Write run.json, or refuse a folder that holds results of different settings."""
        path = self.out / "run.json"
        if path.exists():
            old = json.loads(path.read_text())
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if diff:
                raise InputError(
                    f"--out {str(self.out)!r} holds results of a different run (differs in {', '.join(diff)});"
                    " expected a new --out folder or the same settings to resume"
                )
            return
        atomic_write_json(path, settings)

    def records(self) -> list[dict]:
        """Finished cells of every rank file (the last line wins for a repeated cell)."""
        by_key: dict[tuple, dict] = {}
        for path in sorted(self.out.glob("cells*.jsonl")):
            for rec in read_jsonl(path):
                by_key[cell_key(rec["needle"], rec[self.layout.length_key], rec["depth"])] = rec
        return list(by_key.values())

    def finished(self) -> set[tuple]:
        return {
            cell_key(r["needle"], r[self.layout.length_key], r["depth"]) for r in self.records()
        }

    def append(self, record: dict) -> None:
        append_jsonl(self.path, record)

    def summarize(self, grid: Grid, n_needles: int) -> dict:
        """Write all_accuracies.json, avg_accuracy.txt and heatmap.png from the finished cells."""
        return self.write_summary(summary_entries(self.records(), grid, n_needles, self.layout), grid)

    def write_summary(self, entries: list[dict], grid: Grid, title: str | None = None) -> dict:
        """all_accuracies.json, avg_accuracy.txt and heatmap.png of `entries` (the original's rows)."""
        atomic_write_json(self.out / "all_accuracies.json", entries, indent=4)
        avg = sum(e["Score"] for e in entries) / len(entries) if entries else float("nan")
        atomic_write_text(self.out / "avg_accuracy.txt", f"Average Accuracy: {avg}\n")
        if entries:
            plot_heatmap(entries, self.out / "heatmap.png", self.layout, title)
        expected = len(grid.lengths) * len(grid.depths)
        return {
            "average": avg,
            "cells": len(entries),
            "expected_cells": expected,
            "complete": len(entries) == expected,
        }


def summary_entries(records: list[dict], grid: Grid, n_needles: int, layout: Layout) -> list[dict]:
    """The original's rows for every grid point whose needles are all finished."""
    scores: dict[tuple, list[float]] = {}
    for r in records:
        key = (int(r[layout.length_key]), round(float(r["depth"]), DEPTH_DECIMALS))
        scores.setdefault(key, []).append(1.0 if r["correct"] else 0.0)
    entries = []
    for length, depth in grid.points():
        got = scores.get((length, round(depth, DEPTH_DECIMALS)), [])
        if len(got) < n_needles:
            continue
        entries.append(
            {
                layout.x_column: length,
                layout.y_column: round(depth * 100, -1),
                "Score": sum(got) / len(got),
            }
        )
    return entries
