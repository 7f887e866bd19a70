"""Video-MME results: JSON, Markdown tables and a plot of accuracy vs frames per duration.

`results.json` = {"config": ..., "frames": [...], "by_frames": {"8": {"overall": {...},
"by_duration": {...}, "by_task_type": {...}, "by_domain": {...}}, ...}}; every accuracy block
is `videomme_scoring.accuracy` (official accuracy over answered questions, accuracy over all
questions, counts). Accuracies are in % as Video-MME reports them.
"""

from __future__ import annotations

from pathlib import Path

from longva.eval.videomme_data import DURATIONS
from longva.eval.videomme_scoring import accuracy, breakdown
from longva.utils.io import atomic_path, atomic_write_json, atomic_write_text

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
PLOT_PNG = "accuracy_vs_frames.png"


def summarize(records: list[dict], frames: tuple[int, ...], config: dict) -> dict:
    by_frames = {}
    for n in frames:
        rows = [r for r in records if int(r["frames"]) == n]
        if not rows:
            continue
        by_frames[str(n)] = {
            "overall": accuracy(rows),
            "by_duration": breakdown(rows, "duration", DURATIONS),
            "by_task_type": breakdown(rows, "task_type"),
            "by_domain": breakdown(rows, "domain"),
            "clamped_questions": sum(1 for r in rows if r.get("clamped")),
        }
    return {"config": config, "frames": [int(n) for n in by_frames], "by_frames": by_frames}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def markdown(results: dict) -> str:
    frames = results["frames"]
    durations = [
        d
        for d in DURATIONS
        if any(d in results["by_frames"][str(n)]["by_duration"] for n in frames)
    ]
    lines = [
        "# Video-MME (w/o subtitles), local harness",
        "",
        f"model: `{results['config'].get('model')}`  ",
        f"data: `{results['config'].get('data')}`  ",
        "accuracy in %, official scorer (over answered questions); "
        "`all` counts unanswered questions as wrong",
        "",
        "| frames | overall | " + " | ".join(durations) + " | all | answered / questions |",
        "|---|---|" + "---|" * len(durations) + "---|---|",
    ]
    for n in frames:
        block = results["by_frames"][str(n)]
        o = block["overall"]
        cells = [
            _pct(block["by_duration"][d]["accuracy"]) if d in block["by_duration"] else "-"
            for d in durations
        ]
        lines.append(
            f"| {n} | **{_pct(o['accuracy'])}** | "
            + " | ".join(cells)
            + f" | {_pct(o['accuracy_all'])} | {o['answered']} / {o['questions']} |"
        )
    task_types = sorted({t for n in frames for t in results["by_frames"][str(n)]["by_task_type"]})
    lines += [
        "",
        "## by task type",
        "",
        "| task type | " + " | ".join(f"{n} fr" for n in frames) + " |",
        "|---|" + "---|" * len(frames),
    ]
    for t in task_types:
        cells = [
            _pct(results["by_frames"][str(n)]["by_task_type"].get(t, {}).get("accuracy"))
            for n in frames
        ]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = results["frames"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    series = [(d, "by_duration") for d in DURATIONS] + [("overall", None)]
    for name, field in series:
        xs, ys = [], []
        for n in frames:
            block = results["by_frames"][str(n)]
            acc = block["overall"] if field is None else block[field].get(name)
            if acc and acc["accuracy"] is not None:
                xs.append(n)
                ys.append(acc["accuracy"])
        if xs:
            ax.plot(
                xs,
                ys,
                marker="o",
                label=name,
                linewidth=2.5 if field is None else 1.5,
                color="black" if field is None else None,
            )
    ax.axhline(25, color="grey", linestyle="--", linewidth=1, label="chance (4 options)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(frames, [str(n) for n in frames])
    ax.set_xlabel("frames")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Video-MME accuracy vs frames")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def write_report(out: Path, records: list[dict], frames: tuple[int, ...], config: dict) -> dict:
    results = summarize(records, frames, config)
    atomic_write_json(out / RESULTS_JSON, results)
    atomic_write_text(out / RESULTS_MD, markdown(results))
    plot(results, out / PLOT_PNG)
    return results
