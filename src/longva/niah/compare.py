"""`longva niah compare RUN_DIR...`: runs of several models x tasks side by side.

Writes into `--out`:
- `compare.md`: one row per (model, task): average and the score per frame count (mean over
  depths; with more than 8 frame counts, per bucket of neighbouring counts);
- `compare.json`: the same numbers plus each run's folder;
- `heatmaps/<model>__<task>.png`: each run's heatmap with its title;
- `compare.png`: one figure, a row per model and a column per task, one colour scale.
A run is labelled by its `meta.json` (model label, model type, task; written by
`longva niah run`), else as a single-needle run named after its folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.layout import VNIAH
from longva.niah.plot import draw_heatmap, load_entries, plot_heatmap, pyplot, save_figure
from longva.utils.io import atomic_write_json, atomic_write_text

MAX_COLUMNS = 8


def run_info(run_dir: Path) -> dict:
    """{label, model_type, task, entries} of a run folder."""
    if not run_dir.is_dir():
        raise InputError(
            f"run folder {str(run_dir)!r} does not exist; expected a `longva niah run` --out"
        )
    entries, layout = load_entries(run_dir)
    if layout is not VNIAH:
        raise InputError(
            f"run folder {str(run_dir)!r} holds text NIAH results; expected V-NIAH runs"
        )
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return {
        "run": str(run_dir),
        "model": str(meta.get("label", run_dir.name)),
        "model_type": meta.get("model_type", "longva"),
        "task": meta.get("task", "single"),
        "mode": meta.get("mode", "exact"),
        "entries": entries,
    }


def by_length(entries: list[dict]) -> dict[int, float]:
    scores: dict[int, list[float]] = {}
    for e in entries:
        scores.setdefault(int(e[VNIAH.x_column]), []).append(float(e["Score"]))
    return {n: float(np.mean(v)) for n, v in sorted(scores.items())}


def buckets(lengths: list[int]) -> list[tuple[int, int]]:
    """Frame counts grouped into at most MAX_COLUMNS contiguous (lo, hi) ranges."""
    if len(lengths) <= MAX_COLUMNS:
        return [(n, n) for n in lengths]
    groups = np.array_split(np.array(lengths), MAX_COLUMNS)
    return [(int(g[0]), int(g[-1])) for g in groups]


def bucket_scores(
    per_length: dict[int, float], ranges: list[tuple[int, int]]
) -> list[float | None]:
    out = []
    for lo, hi in ranges:
        vals = [s for n, s in per_length.items() if lo <= n <= hi]
        out.append(float(np.mean(vals)) if vals else None)
    return out


def markdown(rows: list[dict], ranges: list[tuple[int, int]]) -> str:
    heads = [f"{lo} fr" if lo == hi else f"{lo}–{hi} fr" for lo, hi in ranges]
    lines = [
        "| model | task | average | " + " | ".join(heads) + " |",
        "|---|---|---|" + "---|" * len(heads),
    ]
    for r in rows:
        cells = ["–" if s is None else f"{s:.3f}" for s in r["buckets"]]
        lines.append(
            f"| {r['model']} | {r['task']} | **{r['average']:.3f}** | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def compare_runs(run_dirs: list[Path], out: Path, title: str | None = None) -> dict:
    infos = [run_info(Path(d)) for d in run_dirs]
    if not infos:
        raise InputError("compare needs at least one run folder")
    lengths = sorted({n for info in infos for n in by_length(info["entries"])})
    ranges = buckets(lengths)
    rows = []
    for info in infos:
        per = by_length(info["entries"])
        avg = (
            float(np.mean([e["Score"] for e in info["entries"]]))
            if info["entries"]
            else float("nan")
        )
        rows.append(
            {k: info[k] for k in ("run", "model", "model_type", "task", "mode")}
            | {"average": avg, "by_length": per, "buckets": bucket_scores(per, ranges)}
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for info in infos:
        name = _slug(f"{info['model']}__{info['task']}")
        plot_heatmap(
            info["entries"],
            out / "heatmaps" / f"{name}.png",
            VNIAH,
            f"{info['model']} · {info['task']}",
        )
    figure = side_by_side(infos, out / "compare.png", title)
    md = markdown(rows, ranges)
    atomic_write_text(out / "compare.md", md)
    atomic_write_json(out / "compare.json", {"buckets": ranges, "runs": rows})
    return {"markdown": md, "rows": rows, "figure": str(figure)}


def side_by_side(infos: list[dict], out_png: Path, title: str | None = None) -> Path:
    """A row per model, a column per task, one colour scale."""
    plt = pyplot()
    models = list(dict.fromkeys(i["model"] for i in infos))
    tasks = list(dict.fromkeys(i["task"] for i in infos))
    fig, axes = plt.subplots(
        len(models),
        len(tasks),
        figsize=(6.5 * len(tasks) + 1.5, 4.6 * len(models)),
        squeeze=False,
        layout="constrained",  # titles and axis labels of stacked rows never overlap
    )
    mesh = None
    for ax in axes.flat:
        ax.axis("off")
    for info in infos:
        ax = axes[models.index(info["model"]), tasks.index(info["task"])]
        ax.axis("on")
        avg = np.mean([e["Score"] for e in info["entries"]]) if info["entries"] else float("nan")
        mesh = draw_heatmap(
            ax,
            fig,
            info["entries"],
            VNIAH,
            f"{info['model']} · {info['task']} (avg {avg:.3f})",
            colorbar=False,
        )
        ax.tick_params(axis="x", labelsize=9)
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes.flat)).set_label("Score")
    if title:
        fig.suptitle(title)
    return save_figure(fig, plt, out_png)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


__all__ = ["compare_runs", "side_by_side"]
