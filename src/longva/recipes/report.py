"""The reproduction report: results.json, report.md, per-model heatmaps, a side-by-side figure.

V-NIAH accuracy is averaged over the whole grid and over length buckets defined by the number
of visual tokens of a cell, (frames + 1) x tokens/frame (the needle is inserted), against the
S0 context (the short LM's training length).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from longva.niah.plot import load_entries, plot_compare
from longva.recipes.reproduce import MODELS, ReproduceResult
from longva.recipes.runner import load_cells
from longva.utils.dataclass_config import to_dict
from longva.utils.io import atomic_write_json, atomic_write_text

TARGET_LONG, TARGET_SHORT_BEYOND = 0.90, 0.40


def _mean(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def vniah_numbers(cells: list[dict], tpf: int, s0_context: int) -> dict:
    """Average, per-frame-count and per-bucket accuracy from per-cell records."""
    by_frames: dict[int, list[float]] = {}
    for c in cells:
        by_frames.setdefault(int(c["frames"]), []).append(1.0 if c["correct"] else 0.0)
    visual = {t: (t + 1) * tpf for t in by_frames}
    buckets = {
        "within_s0_context": [t for t in by_frames if visual[t] <= s0_context],
        "beyond_s0_context": [t for t in by_frames if visual[t] > s0_context],
        "beyond_4x_s0_context": [t for t in by_frames if visual[t] > 4 * s0_context],
    }
    return {
        "average": _mean(v for vals in by_frames.values() for v in vals),
        "by_frames": {t: _mean(by_frames[t]) for t in sorted(by_frames)},
        "visual_tokens": {t: visual[t] for t in sorted(visual)},
        "buckets": {name: _mean(v for t in ts for v in by_frames[t]) for name, ts in buckets.items()},
        "bucket_frames": {name: sorted(ts) for name, ts in buckets.items()},
        "cells": len(cells),
    }


def text_numbers(cells: list[dict]) -> dict:
    by_len: dict[int, list[float]] = {}
    for c in cells:
        by_len.setdefault(int(c["tokens"]), []).append(1.0 if c["correct"] else 0.0)
    return {"average": _mean(v for vals in by_len.values() for v in vals), "by_tokens": {t: _mean(v) for t, v in sorted(by_len.items())}}


def build_results(res: ReproduceResult) -> dict:
    cfg = res.cfg
    tpf = next(iter(res.models.values())).info.get("tokens_per_frame")
    s0_ctx = cfg.stages.s0_text.seq_len
    results = {
        "config": to_dict(cfg),
        "context": {
            "s0_text_tokens": s0_ctx,
            "s1_long_tokens": cfg.stages.s1_long.seq_len if cfg.stages.s1_long.enabled else None,
            "tokens_per_frame": tpf,
            "longest_alignment_visual_tokens": cfg.stages.s2_align.max_grids * tpf,
            "longest_vniah_visual_tokens": (max(cfg.eval.vniah.frames) + 1) * tpf,
        },
        "models": {},
        "text_niah": {k: text_numbers(load_cells(v)) for k, v in res.text_niah.items()},
        "video_qa_proxy": {k: v.info["summary"] for k, v in res.video_qa.items()},
        "timings_s": res.timings,
        "stages": {f"{g}:{k}": v.path.name for g, d in
                   (("lm", res.lms), ("model", res.models), ("vniah", res.vniah)) for k, v in d.items()},
    }
    for name, stage in res.vniah.items():
        results["models"][name] = {"description": MODELS[name], **vniah_numbers(load_cells(stage), tpf, s0_ctx)}
    results["acceptance"] = acceptance(results)
    return results


def acceptance(results: dict) -> dict:
    models = results["models"]
    out = {}
    if "longva" in models:
        avg = models["longva"]["average"]
        out["longva_average_ge_0.90"] = {"value": avg, "ok": avg is not None and avg >= TARGET_LONG}
    if "short_lm" in models:
        beyond = models["short_lm"]["buckets"]["beyond_s0_context"]
        out["short_lm_beyond_context_le_0.40"] = {"value": beyond, "ok": beyond is not None and beyond <= TARGET_SHORT_BEYOND}
    return out


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def vniah_table(results: dict) -> str:
    frames = sorted({t for m in results["models"].values() for t in m["by_frames"]})
    head = "| model | average | ≤ S0 ctx | > S0 ctx | > 4× S0 ctx | " + " | ".join(f"{t} fr" for t in frames) + " |"
    sep = "|" + "---|" * (5 + len(frames))
    rows = []
    for name, m in results["models"].items():
        b = m["buckets"]
        cells = " | ".join(_fmt(m["by_frames"].get(t)) for t in frames)
        rows.append(f"| {name} | **{_fmt(m['average'])}** | {_fmt(b['within_s0_context'])} | "
                    f"{_fmt(b['beyond_s0_context'])} | {_fmt(b['beyond_4x_s0_context'])} | {cells} |")
    return "\n".join([head, sep, *rows])


def text_table(results: dict) -> str:
    lengths = sorted({t for m in results["text_niah"].values() for t in m["by_tokens"]})
    head = "| LM | average | " + " | ".join(f"{t} tok" for t in lengths) + " |"
    sep = "|" + "---|" * (2 + len(lengths))
    rows = [f"| {name} | {_fmt(m['average'])} | " + " | ".join(_fmt(m["by_tokens"].get(t)) for t in lengths) + " |"
            for name, m in results["text_niah"].items()]
    return "\n".join([head, sep, *rows])


def write_report(res: ReproduceResult, out: Path, elapsed_s: float | None = None) -> dict:
    out = Path(out)
    results = build_results(res)
    if elapsed_s is not None:
        results["elapsed_s"] = round(elapsed_s, 1)
    atomic_write_json(out / "results.json", results)
    runs = []
    for name, stage in res.vniah.items():
        shutil.copyfile(stage.path / "heatmap.png", out / f"heatmap_{name}.png")
        entries, layout = load_entries(stage.path / "all_accuracies.json")
        runs.append((entries, layout, name))
    plot_compare(*runs, out_png=out / "vniah_side_by_side.png", columns=2 if len(runs) > 2 else None)
    atomic_write_text(out / "report.md", render_markdown(results))
    return results


def render_markdown(results: dict) -> str:
    ctx = results["context"]
    cfg = results["config"]
    lines = [
        "# LongVA at toy scale: long context transfer from language to vision",
        "",
        f"Trained from nothing by `longva reproduce` (seed {cfg['seed']}). Tokens per frame:"
        f" {ctx['tokens_per_frame']}; S0 text context: {ctx['s0_text_tokens']} tokens; S1 long-context"
        f" text: {ctx['s1_long_tokens']} tokens (RoPE θ {cfg['stages']['s0_text']['rope_theta']:g} →"
        f" {cfg['stages']['s1_long']['rope_theta']:g}); longest visual sequence in alignment:"
        f" {ctx['longest_alignment_visual_tokens']} tokens; longest V-NIAH cell:"
        f" {ctx['longest_vniah_visual_tokens']} visual tokens.",
        "",
        "## Models",
        "",
        *[f"- **{k}**: {v['description']}" for k, v in results["models"].items()],
        "",
        "## V-NIAH accuracy (exact match under teacher forcing, the original's metric)",
        "",
        "Buckets by visual tokens of a cell, (frames + 1) × tokens/frame, relative to the S0 context.",
        "",
        vniah_table(results),
        "",
        "![V-NIAH heatmaps](vniah_side_by_side.png)",
        "",
        "## Text NIAH (the language models alone; haystack length in tokens)",
        "",
        text_table(results),
        "",
        "## Video-QA proxy (synthetic long-video multiple choice; a proxy, NOT Video-MME)",
        "",
        *[f"- {k}: average {_fmt(v['average'])}, by frames {json.dumps(v['by_frames'])}" for k, v in results["video_qa_proxy"].items()],
        "",
        "## Acceptance checks",
        "",
        *[f"- {k}: {_fmt(v['value'])} → {'OK' if v['ok'] else 'NOT MET'}" for k, v in results["acceptance"].items()],
        "",
        "## Stage timings (seconds, when computed; cached stages keep their first timing)",
        "",
        *[f"- {k}: {v:.1f}" for k, v in results["timings_s"].items()],
    ]
    if "elapsed_s" in results:
        lines += ["", f"Wall time of this invocation: {results['elapsed_s']:.1f} s."]
    return "\n".join(lines) + "\n"
