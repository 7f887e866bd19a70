"""The metrics plans can name for the LongVA recipe, each with how a run computes it (`METRICS`).

Evaluators on the recipe's own synthetic data, through the cached stages of a `RecipeRun`:
- `vniah`: V-NIAH accuracy, averaged over the grid and per length bucket (visual tokens of a cell
  vs the S0 text context, as `longva reproduce` reports it);
- `text_niah`: the text LM's needle-in-a-haystack average;
- `video_qa_proxy`: the synthetic long-video multiple-choice proxy (never reported as Video-MME).

Video-MME is a real benchmark: with a local copy at `$LONGVA_DATA_DIR/videomme` (the official
layout, checked by `longva.eval.videomme.available`) a run answers it with `longva eval videomme`'s
harness at the metric's frame count (128 unless the plan says `@N frames`) and reports its
accuracy; without one its cell reads "not available: ..." and the proxy is reported beside it.
Other benchmarks (VQAv2, GQA, ...) are named so plans resolve, and always read "not available".

Measurements, read back from the stage infos and `<stage>/train/metrics.jsonl` (cheap, so every
run records all of them): final training loss, training tokens/s, peak host memory and seconds
per training stage, and seconds per V-NIAH cell. Built-in evaluators run on the recipe's own
grids: metric params such as `@128 frames` are shown in the column header but not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from longva.ablation.registry import MetricSpec, data_dir, external
from longva.eval.videomme import available, evaluate
from longva.recipes.ablation.recipe_target import RecipeRun
from longva.recipes.metrics import text_numbers, vniah_numbers
from longva.recipes.stage_runner import StageResult, load_cells, load_train_metrics

VIDEOMME_FRAMES = 128  # the paper's Video-MME setting


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


# ---- evaluations ----------------------------------------------------------------------------------


def vniah(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    model = run.model()
    stage = run.track(run.runner.vniah(model, label=f"V-NIAH {run.label}"))
    tpf = int(model.info["tokens_per_frame"])
    numbers = vniah_numbers(load_cells(stage), tpf, run.cfg.stages.s0_text.seq_len)
    return {"value": numbers["average"], "buckets": numbers["buckets"], "bucket_frames": numbers["bucket_frames"],
            "by_frames": numbers["by_frames"], "visual_tokens": numbers["visual_tokens"],
            "frames": sorted(numbers["by_frames"]), "cells": numbers["cells"],
            "s0_context_tokens": run.cfg.stages.s0_text.seq_len}


def text_niah(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    stage = run.track(run.runner.text_niah(run.lm(), label=f"text NIAH {run.label}"))
    numbers = text_numbers(load_cells(stage))
    return {"value": numbers["average"], "by_tokens": numbers["by_tokens"], "lm_stage": run.lm().name}


def video_qa_proxy(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    summary = run.track(run.runner.video_qa_proxy(run.model())).info["summary"]
    return {"value": summary["average"], "by_frames": summary["by_frames"], "name": summary["name"]}


def videomme(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    """Video-MME accuracy (a fraction) of the run's model at the metric's frame count; the answers
    and the harness's own report are kept in `<run>/videomme/` (resumable)."""
    frames = int(params.get("frames", VIDEOMME_FRAMES))
    if params.get("subtitles"):
        return {"value": None, "frames": frames,
                "why": "subtitles are not supported by longva eval videomme (use 'w/o subs')"}
    out = run.run_dir / "videomme"
    results = evaluate(run.model().path / "model", data_dir() / "videomme", frames=(frames,), out=out,
                       device="auto")
    block = results["by_frames"][str(frames)]
    subset = params.get("subset")
    scores = block["by_duration"].get(subset) if subset in ("short", "medium", "long") else block["overall"]
    scores = scores or {"accuracy": None, "accuracy_all": None, "answered": 0, "questions": 0}
    value = {"value": None if scores["accuracy"] is None else scores["accuracy"] / 100, "frames": frames,
             "subset": subset or "overall", "answered": scores["answered"], "questions": scores["questions"],
             "accuracy_all": scores["accuracy_all"], "report": str(out / "results.json")}
    if scores["accuracy"] is None:  # the official accuracy is over answered questions
        value["why"] = f"no answer had a choice letter ({scores['answered']} of {scores['questions']} answered)"
    return value


# ---- measurements ---------------------------------------------------------------------------------


def _steps(stage: StageResult) -> list[dict]:
    """One record per step: a resumed stage may have logged the steps after its checkpoint twice."""
    by_step = {int(r["step"]): r for r in load_train_metrics(stage) if "step" in r}
    return [by_step[s] for s in sorted(by_step)]


def _by_stage(run: RecipeRun, read: Callable[[StageResult], Any]) -> dict[str, Any]:
    return {"by_stage": {s.name: read(s) for s in run.training()}}


def train_loss(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    out = _by_stage(run, lambda s: s.info.get("final_loss"))
    return {"value": out["by_stage"].get("s2_align"), "unit": "final loss", **out}


def stage_tokens_per_s(stage: StageResult) -> float | None:
    """Mean training tokens/s of a stage; None when the trainer counted no input tokens for it."""
    steps = _steps(stage)
    if not any(r.get("tokens") for r in steps):
        return None  # 0 tokens/s would read as "infinitely slow", not as "not measured"
    steady = steps[1:] or steps  # step 1 includes one-off warm-up costs (allocations, first kernels)
    return _mean(r["tokens_per_s"] for r in steady if r.get("tokens_per_s") is not None)


def train_tokens_per_s(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    out = _by_stage(run, stage_tokens_per_s)
    why = {name: "the trainer logged no token count for this stage"
           for name, v in out["by_stage"].items() if v is None}
    return {"value": out["by_stage"].get("s2_align"), "unit": "tokens/s", "why": why, **out}


def peak_memory(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    def read(stage: StageResult) -> float | None:
        values = [r["peak_rss_mb"] for r in _steps(stage) if r.get("peak_rss_mb") is not None]
        return max(values) if values else None

    out = _by_stage(run, read)
    # ru_maxrss is a process high-water mark: a stage computed after another in the same process
    # reports at least that one's peak; a cached stage keeps the figure of the process that made it.
    return {"value": out["by_stage"].get("s2_align"), "unit": "MB peak host RSS (process high-water mark)", **out}


def train_time(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    out = _by_stage(run, lambda s: s.info.get("seconds"))
    total = sum(v for v in out["by_stage"].values() if v is not None)
    # cached stages keep the seconds of the run that computed them, so totals compare across variants
    return {"value": round(total, 2), "unit": "s, all training stages", **out}


def inference_time(run: RecipeRun, params: dict[str, Any]) -> dict[str, Any]:
    stage = run.stages.get("eval_vniah")
    cells = load_cells(stage) if stage else []
    return {"value": _mean(c["seconds"] for c in cells if c.get("seconds") is not None),
            "unit": "s per V-NIAH cell"}


# ---- the registry entries -------------------------------------------------------------------------

_STABLE = "aggregate from 'Should VLMs be pre-trained with image data?' whose definition is unverified"

METRICS = (
    MetricSpec("vniah", ("V-NIAH", "VNIAH", "visual needle in a haystack", "video needle in a haystack",
                         "V-NIAH accuracy"), "evaluator",
               "LongVA V-NIAH: argmax exact match over the answer span; mean + per-length curve",
               evaluate=vniah, higher_is_better=True),
    MetricSpec("text_niah", ("text NIAH", "needle in a haystack", "NIAH", "passkey retrieval"), "evaluator",
               "text needle-in-a-haystack of the long-context LM", evaluate=text_niah, higher_is_better=True),
    MetricSpec("video_qa_proxy", ("video QA proxy", "synthetic video QA", "long video QA proxy"), "evaluator",
               "synthetic long-video multiple-choice QA; a proxy for Video-MME, never reported as Video-MME",
               evaluate=video_qa_proxy, higher_is_better=True),
    external("videomme", ("Video-MME", "VideoMME", "Video MME"), "Video-MME multiple-choice accuracy",
             "videomme", proxy="video_qa_proxy", defaults={"frames": VIDEOMME_FRAMES, "subtitles": False},
             evaluate=videomme, check=available, higher_is_better=True),
    external("mlvu", ("MLVU",), "MLVU dev multiple-choice accuracy", "mlvu_dev", proxy="video_qa_proxy"),
    external("vqav2", ("VQAv2", "VQA-v2", "VQA v2"), "VQAv2 soft accuracy", "vqav2_val"),
    external("gqa", ("GQA",), "GQA exact match", "gqa"),
    external("textvqa", ("TextVQA", "Text-VQA"), "TextVQA accuracy", "textvqa_val"),
    external("vizwiz", ("VizWiz", "VizWiz-VQA"), "VizWiz VQA accuracy", "vizwiz_vqa_val"),
    external("refcoco", ("RefCOCO",), "RefCOCO box accuracy (IoU >= 0.5)", "refcoco_bbox_rec_val"),
    external("ocid_ref", ("OCID", "OCID-Ref"), "OCID-Ref box accuracy"),
    external("pope", ("POPE",), "POPE accuracy", "pope"),
    external("infovqa", ("InfoVQA", "InfographicVQA"), "InfoVQA ANLS", "infovqa_val"),
    external("ai2d", ("AI2D",), "AI2D accuracy", "ai2d"),
    external("chartqa", ("ChartQA",), "ChartQA relaxed accuracy", "chartqa"),
    external("agieval", ("AGIEval", "AGI Eval"), "AGIEval (text-only, LM-harness style)"),
    external("arc_easy", ("ARC Easy", "ARC-Easy", "ARC-e", "arc_easy"), "ARC-Easy acc (text-only)"),
    MetricSpec("vision_stable_score", ("Vision Stable Score",), "undefined", _STABLE),
    MetricSpec("text_stable_score", ("Text Stable Score",), "undefined", _STABLE),
    MetricSpec("train_loss", ("training loss", "train loss", "final loss", "loss", "language modeling loss"),
               "measurement", "final training loss of each stage", evaluate=train_loss, header="train loss",
               per_stage=True, higher_is_better=False),
    MetricSpec("train_tokens_per_s", ("throughput", "training throughput", "tokens per second", "tokens/s",
                                      "training speed"), "measurement", "training tokens per second",
               evaluate=train_tokens_per_s, header="train tokens/s", fmt=".0f", per_stage=True,
               higher_is_better=True),
    MetricSpec("peak_memory", ("memory", "memory usage", "GPU memory", "peak memory", "memory footprint",
                               "memory consumption"), "measurement", "peak accelerator/host memory",
               evaluate=peak_memory, header="peak RSS (MB)", fmt=".0f", per_stage=True, higher_is_better=False),
    MetricSpec("train_time", ("training time", "train time", "wall-clock training time", "training cost",
                              "training compute"), "measurement", "wall-clock training time",
               evaluate=train_time, header="train time, all stages (s)", fmt=".1f", higher_is_better=False),
    MetricSpec("inference_time", ("inference time", "inference latency", "latency", "inference speed",
                                  "inference cost"), "measurement", "wall-clock evaluation time per sample",
               evaluate=inference_time, header="s per V-NIAH cell", fmt=".4f", higher_is_better=False),
)
