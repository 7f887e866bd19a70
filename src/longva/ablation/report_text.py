"""What people read of `longva ablate`: report.md, the tables printed after a run, and the rich
tables of `ablate parse` and `--dry-run` (the parsed plan, the compiled matrix).

Rich cells are `Text` objects, never markup strings: plan text is full of brackets (`[1, 4, 8]`)
that rich would otherwise read as style tags.
"""

from __future__ import annotations

import json
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
