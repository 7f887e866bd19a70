"""The ablation report in `<out>/`: results.json, results.csv, report.md and one bar chart per metric.

results.json holds, per plan entry, its table (columns; rows baseline first; cells aggregated over
seeds), then the provenance of every row (raw item text -> recogniser -> overrides -> stage
hashes used -> tokens per frame and V-NIAH frames) and, per run, what was computed by this call
and what came from an earlier one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longva.ablation.compiler import CompiledPlan, Variant
from longva.ablation.items import entry_items
from longva.ablation.matrix import PRIMARY, Row
from longva.ablation.table import Column, cell, entry_columns, focus_stage
from longva.utils.io import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from longva.ablation.runner import AblationRun


def write_report(compiled: CompiledPlan, run: AblationRun, meta: dict[str, Any]) -> dict[str, Any]:
    from longva.ablation.charts import write_charts  # lazy: matplotlib
    from longva.ablation.report_markdown import render_markdown

    out = Path(run.out_dir)
    results = build_results(compiled, run, meta)
    results["charts"] = write_charts(results, out / "charts")
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.csv", render_csv(results))
    atomic_write_text(out / "report.md", render_markdown(results))
    return results


def build_results(compiled: CompiledPlan, run: AblationRun, meta: dict[str, Any]) -> dict[str, Any]:
    rows = {id(row.variant): row for row in run.matrix.rows}
    baseline = run.matrix.rows[0]
    entries = []
    for entry in compiled.plan.entries:
        variants = [v for v in compiled.variants if v.entry == entry.name and not v.error]
        metrics = variants[0].metrics if variants else []  # every item of an entry shares its metrics
        focus = focus_stage(variants)
        columns = entry_columns(metrics, focus)
        table_rows = [_row(baseline, columns, run, "(baseline)")]
        table_rows += [_row(rows[id(v)], columns, run, v.item or "(entry)") for v in variants]
        entries.append({
            "name": entry.name, "ablated_part": entry.ablated_part, "action": entry.action.value,
            "metrics_listed": list(entry.metrics), "focus_stage": focus,
            "notes": _entry_notes(entry.name, metrics, variants),
            "columns": [c.to_json() for c in columns], "rows": table_rows,
        })
    return {
        "plan": {"title": compiled.plan.title, "source": compiled.plan.source, "paper": compiled.plan.paper},
        "base": meta.get("base", compiled.base_origin), "quick": meta.get("quick", False),
        "seeds": run.matrix.seeds, "vniah_grid": run.matrix.grid_policy, "counts": compiled.counts, "primary_metric": PRIMARY,
        "notes": _notes(run, meta.get("quick", False)),
        "entries": entries,
        "provenance": [_provenance(compiled, row, run) for row in run.matrix.rows],
        "runs": {rid: _run_summary(rec, rid in run.computed) for rid, rec in run.records.items()},
    }


def _row(row: Row, columns: list[Column], run: AblationRun, label: str) -> dict[str, Any]:
    records = [run.records[rid] for rid in row.run_ids]
    v = row.variant
    note = ""
    if v.is_baseline and v.action != "BASELINE":
        note = "equals the base recipe: the baseline run"
    elif v.duplicate_of:
        note = f"same configuration as {v.duplicate_of}: one run serves both"
    return {"variant": label, "is_baseline": v.is_baseline, "note": note, "runs": row.run_ids,
            "cells": {c.id: cell(c, records) for c in columns}}


def _entry_notes(name: str, metrics, variants) -> list[str]:
    notes = list(variants[0].entry_notes) if variants else []  # how the part was bound to our knob
    # Counts on the plan's own scale that ran at the same ratio to our base (--counts relative).
    notes += [f"{v.item}: {n}" for v in variants if "plan_value" in v.derived for n in v.notes
              if "on the plan's scale" in n]
    if not any(m.id == PRIMARY for m in metrics):
        listed = ", ".join(m.name for m in metrics) or "none"
        notes.append(f"V-NIAH accuracy is reported although {name!r} does not list it: it is the recipe's"
                     f" primary metric (the plan lists: {listed})")
    return notes


def _notes(run: AblationRun, quick: bool) -> list[str]:
    seeds = run.matrix.seeds
    notes = ["V-NIAH accuracy (the recipe's primary metric) is reported for every variant of every entry,"
             " listed by the plan or not; buckets by visual tokens of a cell, (frames + 1) x tokens/frame,"
             " against the S0 text context."]
    if run.matrix.grid_policy == "iso-tokens":
        notes.append("V-NIAH grid: iso-tokens. For a variant with another token count per frame the frame counts"
                     " are scaled by base/variant tokens per frame (at least 1 frame), so its haystacks have the"
                     " base grid's visual token lengths; the 'V-NIAH frames' column shows the frames used"
                     " (--vniah-grid frames keeps the base's frame counts).")
    else:
        notes.append("V-NIAH grid: the base's frame counts for every variant (--vniah-grid frames), so variants"
                     " with more tokens per frame are tested on longer visual sequences.")
    notes.append("video_qa_proxy is a synthetic long-video multiple-choice proxy, never Video-MME; a benchmark"
                 " whose dataset is absent reads 'not available: ...' and has no number.")
    if quick:
        notes.append("--quick: smoke-scale stages (a few training steps each); the run exercises the whole"
                     " matrix, but its accuracies are not expected to separate the variants.")
    if len(seeds) > 1:
        notes.append(f"Numbers are mean ± sample std (ddof=1) over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]});"
                     " every row, the baseline included, ran with each seed.")
    return notes


def raw_item(compiled: CompiledPlan, variant: Variant) -> Any:
    """The plan's text for a variant's item (None for the baseline and item-less actions)."""
    if variant.action == "BASELINE" or variant.item is None:
        return None
    items = entry_items(compiled.plan.entry(variant.entry))
    return next((i.raw for i in items if i.label == variant.item), None)


def _provenance(compiled: CompiledPlan, row: Row, run: AblationRun) -> dict[str, Any]:
    v = row.variant
    records = [run.records[rid] for rid in row.run_ids]
    return {
        "entry": v.entry, "item": v.item, "raw": raw_item(compiled, v), "line": v.line, "action": v.action,
        "knob": v.knob, "knob_stage": v.stage, "recogniser": v.recogniser, "overrides": v.overrides,
        "stages_rerun": v.stages, "is_baseline": v.is_baseline, "duplicate_of": v.duplicate_of,
        "tokens_per_frame": records[0]["tokens_per_frame"], "compiled_tokens_per_frame": v.tokens_per_frame,
        "vniah_grid": records[0]["vniah_grid"], "notes": v.entry_notes + v.notes, "warnings": v.warnings,
        "runs": [{"id": r["id"], "seed": r["seed"], "key": r["key"],
                  "stages": {name: s["key"] for name, s in r["stages"].items()}} for r in records],
    }


def _run_summary(record: dict, computed_now: bool) -> dict[str, Any]:
    return {"seed": record["seed"], "key": record["key"], "computed_by_this_call": computed_now,
            "wall_s": record["wall_s"], "overrides": record["overrides"], "stages": record["stages"]}


def render_csv(results: dict[str, Any]) -> str:
    """One row per table row of every entry; std in its own column when there are several seeds."""
    several = len(results["seeds"]) > 1
    header, rows = ["entry", "variant", "note"], []
    for entry in results["entries"]:
        for row in entry["rows"]:
            line = {"entry": entry["name"], "variant": row["variant"], "note": row["note"]}
            for column in entry["columns"]:
                c = row["cells"][column["id"]]
                name = column["header"]
                line[name] = _csv_value(c)
                if several and column["kind"] == "number":
                    line[f"{name} (std)"] = "" if c["std"] is None else c["std"]
            header += [k for k in line if k not in header]
            rows.append(line)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_value(c: dict[str, Any]) -> Any:
    if "mean" in c:
        return "" if c["mean"] is None else c["mean"]
    return c["display"]
