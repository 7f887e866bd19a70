"""The reproduction report of one seed: results.json, report.md, per-model heatmaps, a side-by-side figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from longva.niah.plot import load_entries, plot_compare
from longva.recipes.acceptance import seed_checks
from longva.recipes.metrics import answer_cell, text_numbers, theta_text, vniah_numbers
from longva.recipes.reproduce import MODELS, ReproduceResult
from longva.recipes.stage_inputs import TRAINING_STAGES
from longva.recipes.stage_runner import load_cells, load_train_metrics
from longva.utils.dataclass_config import to_dict
from longva.utils.io import atomic_write_json, atomic_write_text


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
        "stage_rates": stage_rates(res),
        "stages": {
            f"{g}:{k}": v.path.name
            for g, d in (("lm", res.lms), ("model", res.models), ("vniah", res.vniah))
            for k, v in d.items()
        },
        "rope": {"theta": res.rope_theta, "sweep": {theta_text(t): n for t, n in res.rope_sweep.items()}},
    }
    for name, stage in res.vniah.items():
        results["models"][name] = {"description": MODELS[name], **vniah_numbers(load_cells(stage), tpf, s0_ctx)}
    if res.rope_theta is not None:
        results["models"]["short_lm_rope"]["rope_theta"] = res.rope_theta
    results["acceptance"] = seed_checks(results)
    return results


def model_folders(res: ReproduceResult) -> dict[str, str]:
    """Each trained model's folder, as `--model` takes it: the LongVA models (longva, short_lm,
    anyres: `longva chat / info / niah`) and the language models (s0_text, s1_long: `longva niah-text`).
    Paths start as `--out` did (`runs/reproduce/cache/...` after `make demo`)."""
    return {name: str(stage.path / "model") for name, stage in res.models.items()} | {
        name: str(stage.path / "lm") for name, stage in res.lms.items()
    }


def stage_rates(res: ReproduceResult) -> dict[str, dict]:
    """Per computed stage: seconds, tokens processed and tokens/s (training: input tokens of
    every step; evaluation: the tokens each cell prefilled)."""
    out = {}
    stages = {"v0_vision:tower": res.vision} if res.vision is not None else {}
    for group in (res.lms, res.models, res.vniah, res.text_niah):
        stages |= {f"{stage.name}:{name}": stage for name, stage in group.items()}
    for label, stage in stages.items():
        records = load_train_metrics(stage) if stage.name in TRAINING_STAGES else load_cells(stage)
        tokens = sum(r.get("tokens", r.get("new_tokens", 0)) for r in records)
        busy = sum(r.get("step_time_s", r.get("seconds", 0.0)) for r in records)
        out[label] = {
            "seconds": float(stage.info.get("seconds", 0.0)),
            "threads": stage.info.get("threads"),  # absent in caches from before it was recorded
            "tokens": int(tokens),
            "tokens_per_s": round(tokens / busy, 1) if busy > 0 else None,
        }
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
        rows.append(
            f"| {name} | **{_fmt(m['average'])}** | {_fmt(b['within_s0_context'])} | "
            f"{_fmt(b['beyond_s0_context'])} | {_fmt(b['beyond_4x_s0_context'])} | {cells} |"
        )
    return "\n".join([head, sep, *rows])


def needle_table(results: dict) -> str:
    """V-NIAH accuracy of every needle (over all lengths and depths): which colours a model reads."""
    needles = sorted({n for m in results["models"].values() for n in m.get("by_needle", {})})
    head = "| model | " + " | ".join(needles) + " |"
    sep = "|" + "---|" * (1 + len(needles))
    rows = [
        f"| {name} | " + " | ".join(_fmt(m.get("by_needle", {}).get(n)) for n in needles) + " |"
        for name, m in results["models"].items()
    ]
    return "\n".join([head, sep, *rows])


def misses_table(results: dict) -> str:
    """The most common answers on the cells each model misses beyond the S0 context."""
    rows = ["| model | missed cells | most common answers | > S0 ctx, the other needles |", "|---|---|---|---|"]
    for name, m in results["models"].items():
        misses = m.get("misses_beyond_s0_context") or {"count": 0, "answers": {}}
        answers = ", ".join(f"{answer_cell(a)} {share:.0%}" for a, share in misses["answers"].items()) or "–"
        rows.append(f"| {name} | {misses['count']} | {answers} | {_fmt(m.get('beyond_s0_context_other_needles'))} |")
    return "\n".join(rows)


def rope_table(results: dict) -> str:
    """short_lm's V-NIAH at every evaluation θ of the sweep (the reported one in bold)."""
    sweep, best = results["rope"]["sweep"], results["rope"]["theta"]
    rows = ["| RoPE θ at evaluation | average | ≤ S0 ctx | > S0 ctx | > 4× S0 ctx |", "|---|---|---|---|---|"]
    for theta, n in sweep.items():
        b = n["buckets"]
        mark = "**" if best is not None and float(theta) == best else ""
        rows.append(
            f"| {mark}{theta}{mark} | {_fmt(n['average'])} | {_fmt(b['within_s0_context'])} |"
            f" {_fmt(b['beyond_s0_context'])} | {_fmt(b['beyond_4x_s0_context'])} |"
        )
    return "\n".join(rows)


def rates_lines(results: dict) -> list[str]:
    return [
        f"- {k}: {v['seconds']:.1f} s"
        + (f" at {v['threads']} thread{'s' * (v['threads'] > 1)}" if v.get("threads") else "")
        + f", {v['tokens']:,} tokens"
        + (f", {v['tokens_per_s']:,.0f} tokens/s" if v["tokens_per_s"] else "")
        for k, v in results["stage_rates"].items()
    ]


def text_table(results: dict) -> str:
    lengths = sorted({t for m in results["text_niah"].values() for t in m["by_tokens"]})
    head = "| LM | average | " + " | ".join(f"{t} tok" for t in lengths) + " |"
    sep = "|" + "---|" * (2 + len(lengths))
    rows = [
        f"| {name} | {_fmt(m['average'])} | " + " | ".join(_fmt(m["by_tokens"].get(t)) for t in lengths) + " |"
        for name, m in results["text_niah"].items()
    ]
    return "\n".join([head, sep, *rows])


def write_report(res: ReproduceResult, out: Path, elapsed_s: float | None = None) -> dict:
    out = Path(out)
    results = build_results(res)
    if elapsed_s is not None:
        results["elapsed_s"] = round(elapsed_s, 1)
    atomic_write_json(out / "results.json", results)
    atomic_write_json(out / "models.json", model_folders(res))
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
        "Per needle (all lengths and depths):",
        "",
        needle_table(results),
        "",
        "Answers on the cells missed beyond the S0 context (ending the answer scores 0; one fixed"
        " colour is credited on 1 needle in 8), and the accuracy there on the needles other than the"
        " most common answer (what the model reads without that credit; the checks use the bucket):",
        "",
        misses_table(results),
        "",
        *(
            ["## Training-free RoPE θ sweep (short_lm)", "", rope_table(results), ""]
            if results["rope"]["sweep"]
            else []
        ),
        "## Text NIAH (the language models alone; haystack length in tokens)",
        "",
        text_table(results),
        "",
        "## Video-QA proxy (synthetic long-video multiple choice; a proxy, NOT Video-MME)",
        "",
        *[
            f"- {k}: average {_fmt(v['average'])}, by frames {json.dumps(v['by_frames'])}"
            for k, v in results["video_qa_proxy"].items()
        ],
        "",
        "## Acceptance checks (this seed; see the multi-seed report for the verdicts)",
        "",
        *[
            f"- {v['text']}: {_fmt(v['value'])} → {'OK' if v['ok'] else 'NOT MET'}"
            for v in results["acceptance"].values()
        ],
        "",
        "## Stages (seconds when computed, threads, tokens, tokens/s; cached stages keep their first timing)",
        "",
        "With threads = N > 1 the text stages use N threads and the others run side by side in N "
        "one-thread processes, so the wall time is less than the sum below.",
        "",
        *rates_lines(results),
    ]
    if "elapsed_s" in results:
        lines += ["", f"Wall time of this invocation: {results['elapsed_s']:.1f} s."]
    return "\n".join(lines) + "\n"
