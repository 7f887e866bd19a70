"""Human-readable output of `longva ablate`: the parsed plan and the compiled matrix (rich tables).

Cells are `Text` objects, never markup strings: plan text is full of brackets (`[1, 4, 8]`)
that rich would otherwise read as style tags.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from longva.ablation.compiler import BASELINE, CompiledPlan, Variant
from longva.ablation.plan import Plan


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
    return " → ".join(v.stages)


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
            status = m.status + (f"; reported alongside: {m.proxy} (synthetic proxy, not {m.id})" if m.proxy else "")
            table.add_row(Text(m.name), Text(m.label()), Text(status))
    return table


def _summary(compiled: CompiledPlan) -> str:
    n_baseline = sum(v.is_baseline for v in compiled.variants if not v.error)
    return (f"base: {compiled.base_origin}; pooling policy: {compiled.policy}; counts: {compiled.counts}; {len(compiled.runs)} runs"
            f" (1 shared baseline + {len(compiled.runs) - 1} variants); {n_baseline} item(s) equal to the baseline;"
            f" {len(compiled.errors)} unresolved")
