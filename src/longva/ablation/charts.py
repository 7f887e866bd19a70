"""One bar chart per charted metric column: a bar per variant (the baseline once), error bars = std.

Bars come from every entry that has the column, baseline first, coloured by entry; a cell
without a number (a status, or "–") gets no bar. Training measurements read at a stage are
charted per stage (`train_loss@s1_long.png`), since a loss of S1 and one of S2 do not share a scale.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart_series(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """chart name -> {title, bars: [(entry, item, mean, std)]}, collected over all entries."""
    charts: dict[str, dict[str, Any]] = {}
    for entry in results["entries"]:
        for column in entry["columns"]:
            if not column["chart"]:
                continue
            chart = charts.setdefault(column["chart"], {"title": column["header"], "bars": [], "labels": set()})
            for row in entry["rows"]:
                group = "baseline" if row["variant"] == "(baseline)" else entry["name"]
                c = row["cells"][column["id"]]
                if (group, row["variant"]) in chart["labels"] or c.get("mean") is None:
                    continue
                chart["labels"].add((group, row["variant"]))
                chart["bars"].append((group, row["variant"], c["mean"], c["std"] or 0.0))
    return {name: {"title": c["title"], "bars": c["bars"]} for name, c in charts.items() if c["bars"]}


def write_charts(results: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    several = len(results["seeds"]) > 1
    written = []
    for name, chart in chart_series(results).items():
        path = folder / f"{_file_stem(name)}.png"
        _bar_chart(chart["title"], chart["bars"], path, several)
        written.append({"metric": name, "title": chart["title"], "path": f"{folder.name}/{path.name}"})
    return written


def _bar_chart(title: str, bars: list[tuple[str, str, float, float]], path: Path, error_bars: bool) -> None:
    plt = _plt()
    groups = list(dict.fromkeys(b[0] for b in bars))
    palette = ["#444444", *plt.get_cmap("tab10").colors]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(bars) + 2), 4.5))
    for g, group in enumerate(groups):
        index = [i for i, b in enumerate(bars) if b[0] == group]
        drawn = ax.bar(index, [bars[i][2] for i in index], yerr=[bars[i][3] for i in index] if error_bars else None,
                       capsize=4 if error_bars else 0, color=palette[g % len(palette)], label=group)
        ax.bar_label(drawn, fmt="%.3g", fontsize=7)  # a zero bar is invisible without its number
    ax.set_xticks(range(len(bars)), [textwrap.fill(b[1], 18) for b in bars], fontsize=7)
    values = [b[2] + b[3] for b in bars]
    ax.set_ylim(min(0.0, *values), max(values) * 1.15 if max(values) > 0 else 1.0)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False)
    ax.set_title(title + (" (mean ± std over seeds)" if error_bars else ""), fontsize=9, pad=22)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)  # atomic: a killed run never leaves a half-written chart


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name)
