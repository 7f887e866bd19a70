"""The ablation report in `<out>/`: results.json, results.csv, report.md and one bar chart per metric.

Per plan entry, a table: rows = variants (the baseline first), columns = the target's facts (e.g.
tokens per frame), its primary metric, the plan's metrics in plan order and the target's extra
columns. A metric that cannot be computed here (a benchmark without its data, an unknown or
undefined metric, one without an evaluator) is a *status* column: its cell is the exact "not
available: ..." sentence, never a number; a benchmark with a local proxy gets the proxy as its
own column, labelled as a proxy. Per-stage training measurements (loss, tokens/s, memory) are
read at the entry's focus stage: the first training stage its variants re-run.

A number cell holds mean, sample std (ddof=1, n > 1), the 95% t-interval of the mean, n and the
per-seed values; its `display` is "0.500" or "0.500 ± 0.071" (± std). Paired comparison: every
row ran with the baseline's seeds, so for the primary metric and each benchmark the plan lists a
Δ column gives the mean per-seed difference variant − baseline with its 95% t-interval, and a
verdict column says `better` / `worse` when the interval excludes 0, else `not resolved at this n`.

results.json also holds the provenance of every row (raw item text -> recogniser -> overrides ->
stage keys used -> facts) and, per run, what was computed by this call and what came from an
earlier one.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longva.ablation.compiler import BASELINE, CompiledPlan, Variant
from longva.ablation.items import entry_items
from longva.ablation.registry import MetricRegistry, ResolvedMetric
from longva.ablation.report_output import render_markdown, write_charts
from longva.utils.io import atomic_write_json, atomic_write_text
from longva.utils.stats import MeanCI, mean_ci

NOT_RESOLVED = "not resolved at this n"


@dataclass
class Column:
    id: str
    header: str
    kind: str  # fact (text from the run) | number | status (one sentence) | delta | verdict (paired)
    read: Callable[[dict], Any] | None = None  # record -> value (facts: text; numbers: float or None)
    status: str | None = None
    fmt: str = ".3f"
    chart: str | None = None  # chart name for a charted number column
    why: Callable[[dict], str | None] | None = None  # record -> why its value is None (the cell says so)
    higher_is_better: bool | None = None  # paired columns: the direction of the verdict

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "header": self.header, "kind": self.kind, "chart": self.chart}


def metric_value(key: str) -> Callable[[dict], Any]:
    return lambda r: r["metrics"][key]["value"]


# ---- columns ------------------------------------------------------------------------------------


def focus_stage(variants: list[Variant], training_stages: tuple[str, ...]) -> str | None:
    """The first training stage any variant of the entry re-runs (the last one when none does)."""
    rerun = {s for v in variants for s in v.stages}
    return next((s for s in training_stages if s in rerun), training_stages[-1] if training_stages else None)


def entry_columns(metrics: list[ResolvedMetric], focus: str | None, target: Any,
                  registry: MetricRegistry) -> list[Column]:
    columns = list(target.fact_columns())
    primary = list(target.primary_columns())
    columns += primary + paired_columns(primary[:1])
    for m in metrics:
        if m.id != target.primary:
            columns += _metric_columns(m, focus, {c.id for c in columns}, registry)
    taken = {c.id for c in columns}
    return columns + [c for c in target.extra_columns(taken) if c.id not in taken]


def paired_columns(columns: list[Column]) -> list[Column]:
    """Δ vs the baseline (95% CI) and a verdict, for each number column given."""
    out = []
    for c in columns:
        out.append(Column(f"delta:{c.id}", f"Δ {c.header} vs base (95% CI)", "delta", c.read, fmt=c.fmt,
                          higher_is_better=c.higher_is_better))
        out.append(Column(f"verdict:{c.id}", f"verdict ({c.header})", "verdict", c.read,
                          higher_is_better=c.higher_is_better))
    return out


def _metric_columns(m: ResolvedMetric, focus: str | None, taken: set[str], registry: MetricRegistry) -> list[Column]:
    header = m.name if m.label() == m.name else f"{m.name} [{m.label()}]"
    spec = registry.spec(m.id)
    if spec is None or spec.evaluate is None or not m.available:
        out = [Column(f"status:{m.label()}", header, "status", status=not_computed(m))]
    elif spec.per_stage:
        out = [Column(f"{m.id}@{focus}", f"{spec.header or header} ({focus})", "number",
                      lambda r, mid=m.id: r["metrics"][mid]["by_stage"].get(focus), fmt=spec.fmt,
                      chart=f"{m.id}@{focus}", why=lambda r, mid=m.id: r["metrics"][mid].get("why", {}).get(focus))]
    else:
        number = Column(m.key, spec.header or header, "number", metric_value(m.key), fmt=spec.fmt, chart=m.key,
                        why=lambda r, key=m.key: _text(r["metrics"][key].get("why")),
                        higher_is_better=spec.higher_is_better)
        benchmark = spec.kind in ("evaluator", "external") and spec.higher_is_better is not None
        out = [number, *(paired_columns([number]) if benchmark else [])]
    proxy = registry.spec(m.proxy)
    if proxy is not None and proxy.evaluate and m.proxy not in taken:
        out.append(Column(m.proxy, f"{m.proxy} (synthetic proxy, NOT {m.name})", "number", metric_value(m.proxy),
                          fmt=proxy.fmt, chart=m.proxy))
    return [c for c in out if c.id not in taken]


def _text(why: Any) -> str | None:
    return why if isinstance(why, str) else None  # a per-stage measurement's `why` is a mapping


def not_computed(m: ResolvedMetric) -> str:
    """The cell text of a metric the runner does not compute (never a number)."""
    if not m.available:
        return m.status  # "not available: needs dataset X at PATH ..." / "n/a: unknown metric"
    return (f"not available: {m.status.removeprefix('available: ')}, but no evaluator is registered for"
            f" {m.id!r} (MetricSpec.evaluate, registered with Registry.add_metric)")


# ---- cells --------------------------------------------------------------------------------------


def cell(column: Column, records: list[dict], base_records: list[dict] | None = None) -> dict[str, Any]:
    if column.kind == "status":
        return {"display": column.status, "status": column.status}
    if column.kind == "fact":
        values = sorted({str(column.read(r)) for r in records})  # facts do not vary across seeds
        return {"display": " / ".join(values), "value": values[0] if len(values) == 1 else values}
    if column.kind in ("delta", "verdict"):
        paired = paired_cell(column, records, base_records or [])
        return paired if column.kind == "delta" else {"display": paired["verdict"] or "—",
                                                      "verdict": paired["verdict"]}
    reasons = sorted({w for r in records if (w := column.why(r))}) if column.why else []
    return number_cell([column.read(r) for r in records], column.fmt, "; ".join(reasons) or None)


def number_cell(values: list[float | None], fmt: str = ".3f", why: str | None = None) -> dict[str, Any]:
    present = [float(v) for v in values if v is not None]
    if not present:  # e.g. no frame count falls in this length bucket: a dash, or the reason
        return {"display": f"n/a: {why}" if why else "–", "mean": None, "std": None, "ci95": None, "n": 0,
                "values": values}
    mean = statistics.fmean(present)
    std = statistics.stdev(present) if len(present) > 1 else None
    display = f"{mean:{fmt}}" + (f" ± {std:{fmt}}" if std is not None else "")
    if len(present) < len(values):
        display += f" (n={len(present)})"
    return {"display": display, "mean": mean, "std": std, "ci95": mean_ci(present).to_json()["ci95"],
            "n": len(present), "values": values}


def paired_cell(column: Column, records: list[dict], base_records: list[dict]) -> dict[str, Any]:
    """Per-seed differences row − baseline (seed i with seed i), their mean, 95% interval and verdict."""
    if [r["id"] for r in records] == [b["id"] for b in base_records]:
        return {"display": "—", "mean": None, "ci95": None, "n": 0, "values": [], "verdict": None}
    diffs = [float(v) - float(w) for r, b in zip(records, base_records)
             if (v := column.read(r)) is not None and (w := column.read(b)) is not None]
    if not diffs:
        return {"display": "–", "mean": None, "ci95": None, "n": 0, "values": [], "verdict": None}
    ci = mean_ci(diffs)
    display = f"{ci.mean:+{column.fmt}}"
    if ci.low is not None:
        display += f" [{ci.low:+{column.fmt}}, {ci.high:+{column.fmt}}]"
    return {"display": display, "mean": ci.mean, "ci95": ci.to_json()["ci95"], "n": ci.n, "values": diffs,
            "verdict": verdict(ci, column.higher_is_better)}


def verdict(ci: MeanCI, higher_is_better: bool | None) -> str:
    """better / worse when the 95% interval of the difference excludes 0, else not resolved at this n."""
    if ci.low is None or ci.low <= 0 <= ci.high:
        return NOT_RESOLVED
    up = ci.low > 0
    if higher_is_better is None:
        return "higher" if up else "lower"
    return "better" if up == higher_is_better else "worse"


# ---- results ------------------------------------------------------------------------------------


def write_report(compiled: CompiledPlan, run: Any, target: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Write results.json, results.csv, report.md and the charts of a finished `AblationRun`."""
    out = Path(run.out_dir)
    results = build_results(compiled, run, target, meta)
    results["charts"] = write_charts(results, out / "charts")
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.csv", render_csv(results))
    atomic_write_text(out / "report.md", render_markdown(results))
    return results


def build_results(compiled: CompiledPlan, run: Any, target: Any, meta: dict[str, Any]) -> dict[str, Any]:
    rows = {id(row.variant): row for row in run.matrix.rows}
    baseline = run.matrix.rows[0]
    base_records = [run.records[rid] for rid in baseline.run_ids]
    entries = []
    for entry in compiled.plan.entries:
        variants = [v for v in compiled.variants if v.entry == entry.name and not v.error]
        metrics = variants[0].metrics if variants else []  # every item of an entry shares its metrics
        focus = focus_stage(variants, target.training_stages)
        columns = entry_columns(metrics, focus, target, compiled.registry.metrics)
        table_rows = [_row(baseline, columns, run, BASELINE, base_records)]
        table_rows += [_row(rows[id(v)], columns, run, v.item or "(entry)", base_records) for v in variants]
        entries.append({
            "name": entry.name, "ablated_part": entry.ablated_part, "action": entry.action.value,
            "metrics_listed": list(entry.metrics), "focus_stage": focus,
            "notes": _entry_notes(entry.name, metrics, variants, target),
            "columns": [c.to_json() for c in columns], "rows": table_rows,
        })
    return {
        "plan": {"title": compiled.plan.title, "source": compiled.plan.source, "paper": compiled.plan.paper},
        "base": meta.get("base", compiled.base_origin), **target.describe(), "settings": target.settings(),
        "seeds": run.matrix.seeds, "counts": compiled.counts, "primary_metric": target.primary,
        "notes": [*target.notes(), *_seed_notes(run.matrix.seeds)],
        "entries": entries,
        "provenance": [_provenance(compiled, row, run, target) for row in run.matrix.rows],
        "runs": {rid: _run_summary(rec, rid in run.computed) for rid, rec in run.records.items()},
    }


def _row(row: Any, columns: list[Column], run: Any, label: str, base_records: list[dict]) -> dict[str, Any]:
    records = [run.records[rid] for rid in row.run_ids]
    v = row.variant
    note = ""
    if v.is_baseline and v.action != "BASELINE":
        note = "equals the base recipe: the baseline run"
    elif v.duplicate_of:
        note = f"same configuration as {v.duplicate_of}: one run serves both"
    return {"variant": label, "is_baseline": v.is_baseline, "note": note, "runs": row.run_ids,
            "cells": {c.id: cell(c, records, base_records) for c in columns}}


def _entry_notes(name: str, metrics: list[ResolvedMetric], variants: list[Variant], target: Any) -> list[str]:
    notes = list(variants[0].entry_notes) if variants else []  # how the part was bound to the knob
    # Counts on the plan's own scale that ran at the same ratio to the base (--counts relative).
    notes += [f"{v.item}: {n}" for v in variants if "plan_value" in v.derived for n in v.notes
              if "on the plan's scale" in n]
    if target.primary and not any(m.id == target.primary for m in metrics):
        listed = ", ".join(m.name for m in metrics) or "none"
        notes.append(f"{target.primary_label or target.primary} is reported although {name!r} does not list it:"
                     f" it is the recipe's primary metric (the plan lists: {listed})")
    return notes


def _seed_notes(seeds: list[int]) -> list[str]:
    if len(seeds) < 2:
        return ["One seed: the Δ columns have no interval and every verdict is 'not resolved at this n';"
                " --seeds N (resumable) adds seeds without redoing this one."]
    return [f"Numbers are mean ± sample std (ddof=1) over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]});"
            " every row, the baseline included, ran with each seed.",
            "Paired design: Δ = variant − baseline per seed (same seeds), mean and 95% t-interval over the"
            " seeds; verdict 'better'/'worse' when the interval excludes 0, else 'not resolved at this n'."]


def raw_item(compiled: CompiledPlan, variant: Variant) -> Any:
    """The plan's text for a variant's item (None for the baseline and item-less actions)."""
    if variant.action == "BASELINE" or variant.item is None:
        return None
    items = entry_items(compiled.plan.entry(variant.entry))
    return next((i.raw for i in items if i.label == variant.item), None)


def _provenance(compiled: CompiledPlan, row: Any, run: Any, target: Any) -> dict[str, Any]:
    v = row.variant
    records = [run.records[rid] for rid in row.run_ids]
    fields, text = target.run_provenance(records[0])
    return {
        "entry": v.entry, "item": v.item, "raw": raw_item(compiled, v), "line": v.line, "action": v.action,
        "knob": v.knob, "knob_stage": v.stage, "recogniser": v.recogniser, "overrides": v.overrides,
        "stages_rerun": v.stages, "is_baseline": v.is_baseline, "duplicate_of": v.duplicate_of,
        "tokens_per_frame": records[0].get("tokens_per_frame"), "compiled_tokens_per_frame": v.tokens_per_frame,
        **fields, "facts_text": text, "notes": v.entry_notes + v.notes, "warnings": v.warnings,
        "runs": [{"id": r["id"], "seed": r["seed"], "key": r["key"],
                  "stages": {name: s["key"] for name, s in r["stages"].items()}} for r in records],
    }


def _run_summary(record: dict, computed_now: bool) -> dict[str, Any]:
    return {"seed": record["seed"], "key": record["key"], "computed_by_this_call": computed_now,
            "wall_s": record["wall_s"], "overrides": record["overrides"], "stages": record["stages"]}


def render_csv(results: dict[str, Any]) -> str:
    """One row per table row of every entry; std and 95% interval in their own columns."""
    several = len(results["seeds"]) > 1
    header, rows = ["entry", "variant", "note"], []
    for entry in results["entries"]:
        for row in entry["rows"]:
            line = {"entry": entry["name"], "variant": row["variant"], "note": row["note"]}
            for column in entry["columns"]:
                line.update(_csv_cells(column, row["cells"][column["id"]], several))
            header += [k for k in line if k not in header]
            rows.append(line)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_cells(column: dict[str, Any], c: dict[str, Any], several: bool) -> dict[str, Any]:
    name = column["header"]
    if column["kind"] == "verdict":
        return {name: c["verdict"] or ""}
    out = {name: ("" if c["mean"] is None else c["mean"]) if "mean" in c else c["display"]}
    if several and column["kind"] == "number":
        out[f"{name} (std)"] = "" if c["std"] is None else c["std"]
    if several and column["kind"] == "delta":
        low, high = c["ci95"] or ("", "")
        out.update({f"{name} (low)": low, f"{name} (high)": high})
    return out
