"""report.md of an ablation run (and the tables `longva ablate` prints when it finishes)."""

from __future__ import annotations

import json
from typing import Any


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
             f" {', '.join(entry['metrics_listed']) or 'none'}; training measurements read at {entry['focus_stage']}.",
             ""]
    if entry["notes"]:
        lines += [*(f"- {note}" for note in entry["notes"]), ""]
    return "\n".join([*lines, entry_table(entry)])


def tables(results: dict[str, Any]) -> str:
    """The per-entry tables, as printed at the end of `longva ablate`."""
    return "\n\n".join(entry_section(e) for e in results["entries"]) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    plan = results["plan"]
    seeds = results["seeds"]
    lines = [
        f"# Ablation results: {plan['title'] or plan['source']}",
        "",
        f"Plan: `{plan['source']}`; base recipe: {results['base']}{' (--quick)' if results['quick'] else ''};"
        f" seeds: {', '.join(map(str, seeds))}; V-NIAH grid: {results['vniah_grid']};"
        f" counts: {results.get('counts', 'relative')}.",
        "",
        *[f"- {note}" for note in results["notes"]],
        "",
        tables(results),
        "## Charts",
        "",
        *[f"![{c['title']}]({c['path']})" for c in results["charts"]],
        "",
        "## Provenance (raw item → recogniser → overrides → stages → tokens per frame)",
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
    stages = "; ".join(f"seed {r['seed']}: " + ", ".join(f"{k}={v}" for k, v in r["stages"].items()) for r in p["runs"])
    overrides = ", ".join(f"{k}={v!r}" for k, v in p["overrides"].items()) or "none"
    return (f"- **{p['entry']} / {p['item']}**: {raw}{line} → {p['recogniser'] or p['action']} ({p['knob'] or '-'})"
            f" → {overrides} → re-run {' → '.join(p['stages_rerun']) or 'nothing (shared run)'} → {stages}"
            f" → {p['tokens_per_frame']} tokens/frame, V-NIAH frames {p['vniah_grid']['frames']}"
            f" ({p['vniah_grid']['note']})")


def _run_line(run_id: str, r: dict[str, Any]) -> str:
    done = "computed by this call" if r["computed_by_this_call"] else "finished earlier, reused"
    fresh = [name for name, s in r["stages"].items() if s["computed"]]
    return f"- `{run_id}`: {done} ({r['wall_s']:.1f} s); stages computed in that run: {', '.join(fresh) or 'none (all cached)'}"
