"""What people read and see of `longva ablate`: report.md, the tables printed after a run, the rich
tables of `ablate parse` and `--dry-run` (the parsed plan, the compiled matrix), and one bar chart
per charted metric (section `charts` below).

Rich cells are `Text` objects, never markup strings: plan text is full of brackets (`[1, 4, 8]`)
that rich would otherwise read as style tags.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from longva.ablation.compiler import BASELINE, CompiledPlan, Variant
from longva.ablation.plan import Plan


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def entry_table(entry: dict[str, Any]) -> str:
    """One entry as a markdown table: rows = variants (baseline first), columns = facts and metrics."""
    headers = ["variant", *(c["header"] for c in entry["columns"])]
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    for row in entry["rows"]:
        label = row["variant"] + (f" ({row['note']})" if row["note"] else "")
        cells = [row["cells"][c["id"]]["display"] for c in entry["columns"]]
        lines.append("| " + " | ".join(_md(x) for x in [label, *cells]) + " |")
    return "\n".join(lines)


def entry_section(entry: dict[str, Any], level: str = "##") -> str:
    lines = [f"{level} {entry['name']}", "",
             f"Ablated part: {entry['ablated_part']}; action: {entry['action']}; metrics as listed:"
             f" {', '.join(entry['metrics_listed']) or 'none'};"
             f" training measurements read at {entry['focus_stage']}.", ""]
    if entry["notes"]:
        lines += [*(f"- {note}" for note in entry["notes"]), ""]
    return "\n".join([*lines, entry_table(entry)])


def tables(results: dict[str, Any]) -> str:
    """The per-entry tables, as printed at the end of `longva ablate`."""
    return "\n\n".join(entry_section(e) for e in results["entries"]) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    plan = results["plan"]
    seeds = results["seeds"]
    settings = "".join(f"; {s}" for s in results.get("settings", []))
    lines = [
        f"# Ablation results: {plan['title'] or plan['source']}",
        "",
        f"Plan: `{plan['source']}`; base recipe: {results['base']}; seeds: {', '.join(map(str, seeds))}{settings};"
        f" counts: {results.get('counts', 'relative')}.",
        "",
        *[f"- {note}" for note in results["notes"]],
        "",
        tables(results),
        "## Charts",
        "",
        *[f"![{c['title']}]({c['path']})" for c in results["charts"]],
        "",
        "## Provenance (raw item → recogniser → overrides → stages → facts)",
        "",
        *[_provenance_line(p) for p in results["provenance"]],
        "",
        "## Runs",
        "",
        *[_run_line(rid, r) for rid, r in results["runs"].items()],
    ]
    return "\n".join(lines) + "\n"


def _provenance_line(p: dict[str, Any]) -> str:
    raw = "base recipe" if p["raw"] is None else json.dumps(p["raw"], ensure_ascii=False)
    line = f" (line {p['line']})" if p["line"] else ""
    stages = "; ".join(f"seed {r['seed']}: " + ", ".join(f"{k}={v}" for k, v in r["stages"].items())
                       for r in p["runs"])
    overrides = ", ".join(f"{k}={v!r}" for k, v in p["overrides"].items()) or "none"
    facts = [f"{p['tokens_per_frame']} tokens/frame" if p.get("tokens_per_frame") is not None else "",
             p.get("facts_text", "")]
    return (f"- **{p['entry']} / {p['item']}**: {raw}{line} → {p['recogniser'] or p['action']} ({p['knob'] or '-'})"
            f" → {overrides} → re-run {' → '.join(p['stages_rerun']) or 'nothing (shared run)'} → {stages}"
            f" → {', '.join(f for f in facts if f) or 'no facts'}")


def _run_line(run_id: str, r: dict[str, Any]) -> str:
    done = "computed by this call" if r["computed_by_this_call"] else "finished earlier, reused"
    fresh = [name for name, s in r["stages"].items() if s["computed"]]
    return (f"- `{run_id}`: {done} ({r['wall_s']:.1f} s); stages computed in that run:"
            f" {', '.join(fresh) or 'none (all cached)'}")


# ---- console tables of the plan and the compiled matrix ----------------------------------------


def print_plan(plan: Plan, console: Console) -> None:
    table = Table(title=f"{plan.title or plan.source} ({plan.format}, {plan.task_kind} task)", show_lines=True)
    for column in ("line", "entry", "ablated part", "action", "replacement", "metrics"):
        table.add_column(column)
    for e in plan.entries:
        replacement = "—" if e.replacement is None else _format_replacement(e.replacement)
        table.add_row(*(Text(str(c)) for c in (e.line or "", e.name, e.ablated_part, e.action.value,
                                               replacement, "\n".join(e.metrics))))
    console.print(table)
    for warning in plan.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))


def _format_replacement(replacement: Any) -> str:
    if isinstance(replacement, dict):
        return "\n".join(f"{k}: {v}" for k, v in replacement.items())
    return "\n".join(str(item) for item in replacement)


def print_compiled(compiled: CompiledPlan, console: Console) -> None:
    table = Table(title=f"ablation matrix: {compiled.plan.title or compiled.plan.source}", show_lines=True)
    for column in ("entry", "item", "overrides", "re-run", "tokens/frame", "metrics", "notes"):
        table.add_column(column, overflow="fold")
    last_entry = None
    for variant in [compiled.baseline, *compiled.variants]:
        table.add_row(*_row(variant, first_of_entry=variant.entry != last_entry))
        last_entry = variant.entry
    console.print(table)
    console.print(_metrics_table(compiled))
    console.print(Text(_summary(compiled)))


def _row(v: Variant, first_of_entry: bool) -> list[Text]:
    entry = Text(v.entry if first_of_entry else "", style="bold")
    item = Text(v.item if v.item is not None else "(entry)")
    if v.error:
        return [entry, item, Text("unresolved", style="red"), Text("—"), Text("—"), Text("—"),
                Text(v.error, style="red")]
    overrides = "\n".join(f"{k}={v!r}" for k, v in v.overrides.items()) or ("—" if v.entry == BASELINE else "")
    notes = (v.entry_notes if first_of_entry else []) + v.notes + [f"warning: {w}" for w in v.warnings]
    return [entry, item, Text(overrides), Text(_rerun(v)), Text(_tokens(v)), Text(_metric_ids(v)),
            Text("\n".join(notes))]


def _rerun(v: Variant) -> str:
    if v.entry == BASELINE:
        return " → ".join(v.stages)
    if v.is_baseline:
        return "— (baseline run)"
    if v.duplicate_of:
        return f"— (run of {v.duplicate_of})"
    return " → ".join(v.stages) or "— (no stage reads what it changes)"


def _tokens(v: Variant) -> str:
    if v.tokens_per_frame is None:
        return "—"
    extra = v.derived.get("token_grid", "")
    if v.derived.get("resample"):
        extra += f", {v.derived['resample']}"
    return f"{v.tokens_per_frame} ({extra})" if extra else str(v.tokens_per_frame)


def _metric_ids(v: Variant) -> str:
    return "\n".join((m.id or m.name) + ("" if m.available else " *") for m in v.metrics)


def _metrics_table(compiled: CompiledPlan) -> Table:
    table = Table(title="metrics (* = not available here; never a made-up number)")
    for column in ("plan name", "resolved", "status"):
        table.add_column(column, overflow="fold")
    seen = set()
    for variant in compiled.variants:
        for m in variant.metrics:
            if m.name in seen:
                continue
            seen.add(m.name)
            proxy = f"; reported alongside: {m.proxy} (synthetic proxy, not {m.id})" if m.proxy else ""
            status = m.status + proxy
            table.add_row(Text(m.name), Text(m.label()), Text(status))
    return table


def _summary(compiled: CompiledPlan) -> str:
    n_baseline = sum(v.is_baseline for v in compiled.variants if not v.error)
    return (f"base: {compiled.base_origin}; counts: {compiled.counts}; {len(compiled.runs)} runs"
            f" (1 shared baseline + {len(compiled.runs) - 1} variants); {n_baseline} item(s) equal to the baseline;"
            f" {len(compiled.errors)} unresolved")


# ---- charts ---------------------------------------------------------------------------------------
# One bar chart per charted metric column: a bar per variant (the baseline once), the base's band.
#
# Bars come from every entry that has the column, baseline first, coloured by entry; a cell without
# a number (a status, or "–") gets no bar. With several seeds the error bars are the 95% t-interval
# of each mean, and a grey band across the chart is the baseline's interval (its mean as a line), so
# a bar whose interval clears the band differs from the base. Training measurements read at a stage
# are charted per stage (`train_loss@<stage>.png`): losses of two stages do not share a scale.


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
