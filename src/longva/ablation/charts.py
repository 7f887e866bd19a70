"""One bar chart per charted metric column: a bar per variant (the baseline once), the base's band.

Bars come from every entry that has the column, baseline first, coloured by entry; a cell without
a number (a status, or "–") gets no bar. With several seeds the error bars are the 95% t-interval
of each mean, and a grey band across the chart is the baseline's interval (its mean as a line), so
a bar whose interval clears the band differs from the base. Training measurements read at a stage
are charted per stage (`train_loss@<stage>.png`): losses of two stages do not share a scale.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

Bar = tuple[str, str, float, float, float]  # (group, label, mean, interval below, interval above)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart_series(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """chart name -> {title, bars: [Bar], base: (low, mean, high) or None}, over all entries."""
    charts: dict[str, dict[str, Any]] = {}
    for entry in results["entries"]:
        for column in entry["columns"]:
            if not column["chart"]:
                continue
            chart = charts.setdefault(column["chart"], {"title": column["header"], "bars": [], "labels": set(),
                                                        "base": None})
            for row in entry["rows"]:
                group = "baseline" if row["variant"] == "(baseline)" else entry["name"]
                c = row["cells"][column["id"]]
                if (group, row["variant"]) in chart["labels"] or c.get("mean") is None:
                    continue
                chart["labels"].add((group, row["variant"]))
                low, high = c.get("ci95") or (c["mean"], c["mean"])
                chart["bars"].append((group, row["variant"], c["mean"], c["mean"] - low, high - c["mean"]))
                if group == "baseline":
                    chart["base"] = (low, c["mean"], high)
    return {name: {"title": c["title"], "bars": c["bars"], "base": c["base"]}
            for name, c in charts.items() if c["bars"]}


def write_charts(results: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_seeds = len(results["seeds"])
    written = []
    for name, chart in chart_series(results).items():
        path = folder / f"{_file_stem(name)}.png"
        _bar_chart(chart["title"], chart["bars"], chart["base"], path, n_seeds)
        written.append({"metric": name, "title": chart["title"], "path": f"{folder.name}/{path.name}"})
    return written


def _bar_chart(title: str, bars: list[Bar], base: tuple[float, float, float] | None, path: Path,
               n_seeds: int) -> None:
    plt = _plt()
    intervals = n_seeds > 1
    groups = list(dict.fromkeys(b[0] for b in bars))
    palette = ["#444444", *plt.get_cmap("tab10").colors]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(bars) + 2), 4.5))
    if base is not None:
        if intervals:
            ax.axhspan(base[0], base[2], color="#bbbbbb", alpha=0.35, lw=0, zorder=0, label="baseline 95% CI")
        ax.axhline(base[1], color="#444444", lw=0.8, ls="--", zorder=1)
    for g, group in enumerate(groups):
        index = [i for i, b in enumerate(bars) if b[0] == group]
        yerr = [[bars[i][3] for i in index], [bars[i][4] for i in index]] if intervals else None
        drawn = ax.bar(index, [bars[i][2] for i in index], yerr=yerr, capsize=4 if intervals else 0,
                       color=palette[g % len(palette)], label=group, zorder=2)
        ax.bar_label(drawn, fmt="%.3g", fontsize=7)  # a zero bar is invisible without its number
    ax.set_xticks(range(len(bars)), [textwrap.fill(b[1], 18) for b in bars], fontsize=7)
    low, high, clipped = _y_range(bars, base)
    ax.set_ylim(low, high)
    handles = len(groups) + (2 if base is not None and intervals else 0)
    ncol = min(4, handles)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol, frameon=False)
    how = f" (mean, 95% CI over {n_seeds} seeds; band: baseline)" if intervals else ""
    how += "; intervals clipped" if clipped else ""
    ax.set_title(textwrap.fill(title + how, 100), fontsize=9, pad=12 + 11 * -(-handles // ncol))
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)  # atomic: a killed run never leaves a half-written chart


def _y_range(bars: list[Bar], base: tuple[float, float, float] | None) -> tuple[float, float, bool]:
    """Axis limits that show every mean; intervals (wide with few seeds: t(0.975, 1) = 12.7) may
    reach past them by half the means' span, and are clipped beyond that."""
    means = [b[2] for b in bars]
    bottom, top = min(0.0, *means), max(0.0, *means)
    margin = 0.5 * ((top - bottom) or 1.0)
    lows = [b[2] - b[3] for b in bars] + ([base[0]] if base else [])
    highs = [b[2] + b[4] for b in bars] + ([base[2]] if base else [])
    low, high = max(min(lows), bottom - margin), min(max(highs), top + margin)
    clipped = min(lows) < low or max(highs) > high
    pad = 0.12 * ((high - low) or 1.0)  # room for the bar labels
    return min(low, bottom) - (pad if low < bottom else 0.0), max(high, top) + pad, clipped


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name)
