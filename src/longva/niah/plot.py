"""NIAH heatmaps with the original's look, in plain matplotlib (no seaborn / pandas).

The original pivots `all_accuracies.json` (depth x length) into a seaborn heatmap: figure
17.5 x 8, colormap red -> amber -> green (#F0496E, #EBB839, #9ad5b3), vmin 0, vmax 1, white
lines of width 1.5 between cells, depth 0 at the top, x ticks at cell centres rotated 45 deg and
written "1.2K" from 1000 on, colour bar "Score", axes "Num. of Frames" / "Depth Percent".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.layout import LAYOUTS, VNIAH, Layout
from longva.utils.io import read_jsonl

COLORS = ["#F0496E", "#EBB839", "#9ad5b3"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pivot(entries: list[dict], layout: Layout) -> tuple[list, list, np.ndarray]:
    """(lengths, depths, scores[depth, length]) with NaN where a cell is missing; duplicates averaged."""
    xs = sorted({e[layout.x_column] for e in entries})
    ys = sorted({e[layout.y_column] for e in entries})
    total = np.zeros((len(ys), len(xs)))
    count = np.zeros((len(ys), len(xs)))
    for e in entries:
        i, j = ys.index(e[layout.y_column]), xs.index(e[layout.x_column])
        total[i, j] += e["Score"]
        count[i, j] += 1
    with np.errstate(invalid="ignore"):
        return xs, ys, np.where(count > 0, total / np.maximum(count, 1), np.nan)


def length_label(x: float) -> str:
    return f"{x / 1000:.1f}K" if x >= 1000 else f"{x:g}"


def draw_heatmap(ax, fig, entries: list[dict], layout: Layout, title: str | None, colorbar: bool = True):
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("custom_cmap", COLORS)
    xs, ys, grid = pivot(entries, layout)
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, edgecolors="white", linewidth=1.5
    )
    ax.set_xlim(0, len(xs))
    ax.set_ylim(len(ys), 0)  # first depth at the top, as seaborn draws a pivot
    ax.set_xticks(np.arange(len(xs)) + 0.5, [length_label(x) for x in xs], rotation=45, fontsize=14)
    ax.set_yticks(np.arange(len(ys)) + 0.5, [f"{y:g}" for y in ys], rotation=0)
    ax.set_xlabel(layout.x_label)
    ax.set_ylabel("Depth Percent")
    if title:
        ax.set_title(title)
    if colorbar:
        bar = fig.colorbar(mesh, ax=ax)
        bar.set_label("Score", fontsize=14)
    return mesh


def plot_heatmap(
    entries: list[dict],
    out_png: str | os.PathLike,
    layout: Layout = VNIAH,
    title: str | None = None,
) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(17.5, 8))
    draw_heatmap(ax, fig, entries, layout, title)
    fig.tight_layout()
    return save_figure(fig, plt, out_png)


def plot_compare(*runs: tuple[list[dict], Layout, str], out_png: str | os.PathLike, columns: int | None = None) -> Path:
    """Runs side by side on one colour scale; each title carries its average."""
    plt = pyplot()
    cols = columns or len(runs)
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13 * cols, 7 * rows), squeeze=False)
    mesh = None
    for ax, (entries, layout, name) in zip(axes.flat, runs):
        avg = sum(e["Score"] for e in entries) / len(entries)
        mesh = draw_heatmap(ax, fig, entries, layout, f"{name} (avg {avg:.3f})", colorbar=False)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    bar = fig.colorbar(mesh, ax=list(axes.flat))
    bar.set_label("Score", fontsize=14)
    return save_figure(fig, plt, out_png)


def save_figure(fig, plt, out_png) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out)  # never a half-written PNG
    return out


def load_entries(path: str | os.PathLike) -> tuple[list[dict], Layout]:
    """Summary rows from ours or the original's files.

    Accepts an `all_accuracies.json` (V-NIAH or text layout), a run folder (its
    all_accuracies.json, else its cells*.jsonl) or a `cells*.jsonl` file.
    """
    path = Path(path)
    if path.is_dir():
        summary = path / "all_accuracies.json"
        if summary.is_file():
            return load_entries(summary)
        files = sorted(path.glob("cells*.jsonl"))
        if not files:
            raise InputError(
                f"result folder {str(path)!r} has no all_accuracies.json or cells*.jsonl"
            )
        return _from_cells([r for f in files for r in read_jsonl(f)], path)
    if not path.is_file():
        raise InputError(
            f"result file {str(path)!r} does not exist; expected all_accuracies.json, cells.jsonl or a run folder"
        )
    if path.suffix == ".jsonl":
        return _from_cells(list(read_jsonl(path)), path)
    return _from_summary(path)


def _from_summary(path: Path) -> tuple[list[dict], Layout]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(
            f"result file {str(path)!r} is not JSON; expected a list of score rows"
        ) from None
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        for layout in LAYOUTS:
            if all({layout.x_column, layout.y_column, "Score"} <= set(r) for r in rows):
                return rows, layout
    names = " / ".join(f"{{{lay.x_column!r}, {lay.y_column!r}, 'Score'}}" for lay in LAYOUTS)
    raise InputError(f"result file {str(path)!r} is not a list of {names} rows")


def _from_cells(records: list[dict], where: Path) -> tuple[list[dict], Layout]:
    """Aggregate per-cell records (mean over the needles present) into summary rows."""
    for layout in LAYOUTS:
        if records and all(
            layout.length_key in r and "depth" in r and "correct" in r for r in records
        ):
            scores: dict[tuple, list[float]] = {}
            for r in records:
                scores.setdefault((r[layout.length_key], r["depth"]), []).append(
                    float(r["correct"])
                )
            rows = [
                {layout.x_column: x, layout.y_column: round(d * 100, -1), "Score": sum(v) / len(v)}
                for (x, d), v in sorted(scores.items())
            ]
            return rows, layout
    raise InputError(f"{str(where)!r} holds no per-cell records (frames|tokens, depth, correct)")
