"""How the runner computes a metric for one run: metric id -> evaluator(RunContext) -> value dict.

Built-in evaluators (on the recipe's synthetic data, through the cached stages):
- `vniah`: V-NIAH accuracy, averaged over the grid and per length bucket (visual tokens of a cell
  vs the S0 text context, as `longva reproduce` reports it);
- `text_niah`: the text LM's needle-in-a-haystack average;
- `video_qa_proxy`: the synthetic long-video multiple-choice proxy (never reported as Video-MME).

Measurements, read back from the stage infos and `<stage>/train/metrics.jsonl` (cheap, so every
run records all of them): final training loss, training tokens/s, peak host memory and seconds
per training stage, and seconds per V-NIAH cell.

A value dict always has `value` (a float, or None when there is nothing to average) and may carry
`by_stage` (training measurements; the report picks the stage an entry ablates), `why` (stage ->
the reason a value is None, shown in its cell instead of a number) and details.
Built-in evaluators run on the recipe's own grids: metric params such as `@128 frames` are shown
in the column header but not applied. Plugins add evaluators (e.g. a local Video-MME runner)
with `register_evaluator`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from longva.ablation.metrics import ResolvedMetric
from longva.ablation.run_context import RunContext
from longva.recipes.metrics import text_numbers, vniah_numbers
from longva.recipes.runner import load_cells, load_train_metrics

Evaluator = Callable[[RunContext], dict[str, Any]]
EVALUATORS: dict[str, Evaluator] = {}
MEASUREMENTS = ("train_loss", "train_tokens_per_s", "peak_memory", "train_time", "inference_time")
STAGE_MEASUREMENTS = ("train_loss", "train_tokens_per_s", "peak_memory")  # shown at the entry's stage


def register_evaluator(metric_id: str, replace: bool = False) -> Callable[[Evaluator], Evaluator]:
    def add(fn: Evaluator) -> Evaluator:
        if metric_id in EVALUATORS and not replace:
            raise ValueError(f"an evaluator for {metric_id!r} is already registered")
        EVALUATORS[metric_id] = fn
        return fn

    return add


def evaluator_ids_for(metrics: Iterable[ResolvedMetric]) -> list[str]:
    """Evaluators a row's metrics need: their own, and the proxy reported alongside an absent benchmark."""
    out: list[str] = []
    for m in metrics:
        for metric_id in (m.id, m.proxy):
            if metric_id in EVALUATORS and metric_id not in MEASUREMENTS and metric_id not in out:
                out.append(metric_id)
    return out


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


# ---- evaluations on synthetic data ----------------------------------------------------------------


@register_evaluator("vniah")
def _vniah(ctx: RunContext) -> dict[str, Any]:
    model = ctx.model()
    stage = ctx.track(ctx.runner.vniah(model, label=f"V-NIAH {ctx.label}"))
    tpf = int(model.info["tokens_per_frame"])
    numbers = vniah_numbers(load_cells(stage), tpf, ctx.cfg.stages.s0_text.seq_len)
    return {"value": numbers["average"], "buckets": numbers["buckets"], "bucket_frames": numbers["bucket_frames"],
            "by_frames": numbers["by_frames"], "visual_tokens": numbers["visual_tokens"],
            "frames": sorted(numbers["by_frames"]), "cells": numbers["cells"],
            "s0_context_tokens": ctx.cfg.stages.s0_text.seq_len}


@register_evaluator("text_niah")
def _text_niah(ctx: RunContext) -> dict[str, Any]:
    stage = ctx.track(ctx.runner.text_niah(ctx.lm(), label=f"text NIAH {ctx.label}"))
    numbers = text_numbers(load_cells(stage))
    return {"value": numbers["average"], "by_tokens": numbers["by_tokens"], "lm_stage": ctx.lm().name}


@register_evaluator("video_qa_proxy")
def _video_qa_proxy(ctx: RunContext) -> dict[str, Any]:
    summary = ctx.track(ctx.runner.video_qa_proxy(ctx.model())).info["summary"]
    return {"value": summary["average"], "by_frames": summary["by_frames"], "name": summary["name"]}


# ---- measurements ---------------------------------------------------------------------------------


def _steps(stage) -> list[dict]:
    """One record per step: a resumed stage may have logged the steps after its checkpoint twice."""
    by_step = {int(r["step"]): r for r in load_train_metrics(stage) if "step" in r}
    return [by_step[s] for s in sorted(by_step)]


def _by_stage(ctx: RunContext, read: Callable) -> dict[str, Any]:
    return {"by_stage": {s.name: read(s) for s in ctx.training()}}


@register_evaluator("train_loss")
def _train_loss(ctx: RunContext) -> dict[str, Any]:
    out = _by_stage(ctx, lambda s: s.info.get("final_loss"))
    return {"value": out["by_stage"].get("s2_align"), "unit": "final loss", **out}


def stage_tokens_per_s(stage) -> float | None:
    """Mean training tokens/s of a stage; None when the trainer counted no input tokens for it."""
    steps = _steps(stage)
    if not any(r.get("tokens") for r in steps):
        return None  # 0 tokens/s would read as "infinitely slow", not as "not measured"
    steady = steps[1:] or steps  # step 1 includes one-off warm-up costs (allocations, first kernels)
    return _mean(r["tokens_per_s"] for r in steady if r.get("tokens_per_s") is not None)


@register_evaluator("train_tokens_per_s")
def _tokens_per_s(ctx: RunContext) -> dict[str, Any]:
    out = _by_stage(ctx, stage_tokens_per_s)
    why = {name: "the trainer logged no token count for this stage" for name, v in out["by_stage"].items() if v is None}
    return {"value": out["by_stage"].get("s2_align"), "unit": "tokens/s", "why": why, **out}


@register_evaluator("peak_memory")
def _peak_memory(ctx: RunContext) -> dict[str, Any]:
    def read(stage):
        values = [r["peak_rss_mb"] for r in _steps(stage) if r.get("peak_rss_mb") is not None]
        return max(values) if values else None

    out = _by_stage(ctx, read)
    # ru_maxrss is a process high-water mark: a stage computed after another in the same process
    # reports at least that one's peak; a cached stage keeps the figure of the process that made it.
    return {"value": out["by_stage"].get("s2_align"), "unit": "MB peak host RSS (process high-water mark)", **out}


@register_evaluator("train_time")
def _train_time(ctx: RunContext) -> dict[str, Any]:
    out = _by_stage(ctx, lambda s: s.info.get("seconds"))
    total = sum(v for v in out["by_stage"].values() if v is not None)
    # cached stages keep the seconds of the run that computed them, so totals compare across variants
    return {"value": round(total, 2), "unit": "s, all training stages", **out}


@register_evaluator("inference_time")
def _inference_time(ctx: RunContext) -> dict[str, Any]:
    stage = ctx.stages.get("eval_vniah")
    cells = load_cells(stage) if stage else []
    return {"value": _mean(c["seconds"] for c in cells if c.get("seconds") is not None),
            "unit": "s per V-NIAH cell"}
