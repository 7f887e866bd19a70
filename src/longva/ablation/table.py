"""One entry's result table: its columns and, per row, cells aggregated over seeds.

Columns, in order: tokens per frame and the V-NIAH frames actually used (facts), V-NIAH accuracy
and its length buckets (the recipe's primary metric, present for every entry whether the plan
lists it or not), then the plan's metrics in plan order. A metric the runner cannot compute
(an external benchmark without its data, an unknown or undefined metric) is a *status* column:
its cell is the exact "not available: ..." sentence, never a number. A benchmark with a local
proxy (Video-MME -> video_qa_proxy) gets the proxy as its own column, labelled as a proxy.
Training measurements (loss, tokens/s, memory) are read at the entry's focus stage: the first
training stage its variants re-run (s1_long for an S1 schedule, s2_align for pooling).

A number cell holds mean, std (sample std, ddof=1, when n > 1), n and the per-seed values;
its `display` is "0.500" or "0.500 ± 0.071".
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from longva.ablation.compiler import Variant
from longva.ablation.evaluators import EVALUATORS, STAGE_MEASUREMENTS
from longva.ablation.matrix import PRIMARY
from longva.ablation.metrics import ResolvedMetric
from longva.ablation.run_context import TRAINING_STAGES

BUCKETS = (("within_s0_context", "≤ S0 ctx"), ("beyond_s0_context", "> S0 ctx"), ("beyond_4x_s0_context", "> 4× S0 ctx"))
_FORMATS = {"train_tokens_per_s": ".0f", "peak_memory": ".0f", "train_time": ".1f", "inference_time": ".4f"}
_HEADERS = {"train_loss": "train loss", "train_tokens_per_s": "train tokens/s", "peak_memory": "peak RSS (MB)",
            "train_time": "train time, all stages (s)", "inference_time": "s per V-NIAH cell"}


@dataclass
class Column:
    id: str
    header: str
    kind: str  # "fact" (text from the run) | "number" | "status" (one sentence, the same in every row)
    read: Callable[[dict], Any] | None = None  # record -> value (facts: text; numbers: float or None)
    status: str | None = None
    fmt: str = ".3f"
    chart: str | None = None  # chart name for a charted number column
    why: Callable[[dict], str | None] | None = None  # record -> why its value is None (the cell says so)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "header": self.header, "kind": self.kind, "chart": self.chart}


def focus_stage(variants: list[Variant]) -> str:
    """The first training stage any variant of the entry re-runs (the last one when none does)."""
    rerun = {s for v in variants for s in v.stages}
    return next((s for s in TRAINING_STAGES if s in rerun), TRAINING_STAGES[-1])


def entry_columns(metrics: list[ResolvedMetric], focus: str) -> list[Column]:
    columns = [
        Column("tokens_per_frame", "tokens/frame", "fact", lambda r: r["tokens_per_frame"]),
        Column("vniah_frames", "V-NIAH frames", "fact", lambda r: ", ".join(map(str, r["vniah_grid"]["frames"]))),
        Column(PRIMARY, "V-NIAH acc", "number", _metric(PRIMARY), chart=PRIMARY),
        *(Column(f"{PRIMARY}.{key}", f"V-NIAH {label}", "number", _bucket(key)) for key, label in BUCKETS),
    ]
    for m in metrics:
        if m.id != PRIMARY:
            columns += _metric_columns(m, focus, {c.id for c in columns})
    if not any(c.id.startswith("train_time") for c in columns):
        columns.append(Column("train_time", _HEADERS["train_time"], "number", _metric("train_time"), fmt=".1f"))
    return columns


def _metric_columns(m: ResolvedMetric, focus: str, taken: set[str]) -> list[Column]:
    header = m.name if m.label() == m.name else f"{m.name} [{m.label()}]"
    if m.id not in EVALUATORS:
        out = [Column(f"status:{m.label()}", header, "status", status=not_computed(m))]
    elif m.id in STAGE_MEASUREMENTS:
        out = [Column(f"{m.id}@{focus}", f"{_HEADERS[m.id]} ({focus})", "number", _stage_metric(m.id, focus),
                      fmt=_FORMATS.get(m.id, ".3f"), chart=f"{m.id}@{focus}",
                      why=lambda r, mid=m.id: r["metrics"][mid].get("why", {}).get(focus))]
    else:
        title = _HEADERS.get(m.id, header)
        out = [Column(m.id, title, "number", _metric(m.id), fmt=_FORMATS.get(m.id, ".3f"), chart=m.id)]
    if m.proxy and m.proxy in EVALUATORS and m.proxy not in taken:
        out.append(Column(m.proxy, f"{m.proxy} (synthetic proxy, NOT {m.name})", "number", _metric(m.proxy),
                          chart=m.proxy))
    return [c for c in out if c.id not in taken]


def not_computed(m: ResolvedMetric) -> str:
    """The cell text of a metric the runner does not compute (never a number)."""
    if not m.available:
        return m.status  # "not available: needs dataset X at PATH ..." / "n/a: unknown metric"
    return (f"not available: {m.status.removeprefix('available: ')}, but no evaluator is registered for"
            f" {m.id!r} (longva.ablation.evaluators.register_evaluator)")


def _metric(metric_id: str) -> Callable[[dict], Any]:
    return lambda r: r["metrics"][metric_id]["value"]


def _bucket(key: str) -> Callable[[dict], Any]:
    return lambda r: r["metrics"][PRIMARY]["buckets"].get(key)


def _stage_metric(metric_id: str, stage: str) -> Callable[[dict], Any]:
    return lambda r: r["metrics"][metric_id]["by_stage"].get(stage)


# ---- cells -------------------------------------------------------------------------------------


def cell(column: Column, records: list[dict]) -> dict[str, Any]:
    if column.kind == "status":
        return {"display": column.status, "status": column.status}
    if column.kind == "fact":
        values = sorted({str(column.read(r)) for r in records})  # facts do not vary across seeds
        return {"display": " / ".join(values), "value": values[0] if len(values) == 1 else values}
    reasons = sorted({w for r in records if (w := column.why(r))}) if column.why else []
    return number_cell([column.read(r) for r in records], column.fmt, "; ".join(reasons) or None)


def number_cell(values: list[float | None], fmt: str = ".3f", why: str | None = None) -> dict[str, Any]:
    present = [float(v) for v in values if v is not None]
    if not present:  # e.g. no V-NIAH frame count falls in this length bucket: a dash, or the reason
        return {"display": f"n/a: {why}" if why else "–", "mean": None, "std": None, "n": 0, "values": values}
    mean = statistics.fmean(present)
    std = statistics.stdev(present) if len(present) > 1 else None
    display = f"{mean:{fmt}}" + (f" ± {std:{fmt}}" if std is not None else "")
    if len(present) < len(values):
        display += f" (n={len(present)})"
    return {"display": display, "mean": mean, "std": std, "n": len(present), "values": values}
