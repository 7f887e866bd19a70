"""The multi-seed reproduction report: every number per seed and as mean ± 95% CI over seeds.

    <out>/seed_<s>/   one seed's report (results.json, report.md, heatmaps, models.json: each model's folder)
    <out>/results.json, report.md, heatmap_<model>.png (mean over seeds), vniah_side_by_side.png

Heatmaps show the mean over seeds of each cell's accuracy; the acceptance checks are evaluated
per seed and over seeds (`longva.recipes.acceptance`).
"""

from __future__ import annotations

from pathlib import Path

from longva.niah.plot import load_entries, plot_compare, plot_heatmap
from longva.recipes.acceptance import overall_checks
from longva.recipes.metrics import BUCKETS, miss_text, theta_text
from longva.recipes.reproduce import ReproduceResult
from longva.utils.io import atomic_write_json, atomic_write_text
from longva.utils.machine import machine_info, machine_line
from longva.utils.stats import mean_ci

BUCKET_NAMES = {"within_s0_context": "≤ S0 ctx", "beyond_s0_context": "> S0 ctx", "beyond_4x_s0_context": "> 4× S0 ctx"}


def _stats(values: dict[int, float | None]) -> dict:
    present = {s: v for s, v in values.items() if v is not None}
    if not present:
        return {"per_seed": values, "mean": None, "ci95": None, "n": 0}
    return {"per_seed": present, **mean_ci(list(present.values())).to_json()}


def aggregate(per_seed: dict[int, dict]) -> dict:
    """Mean ± CI over seeds of each model's average, buckets, frame counts and needles."""
    models: dict[str, dict] = {}
    names = [n for r in per_seed.values() for n in r["models"]]
    for name in dict.fromkeys(names):
        runs = {s: r["models"][name] for s, r in per_seed.items() if name in r["models"]}
        first = next(iter(runs.values()))
        models[name] = {
            "description": first["description"],
            "average": _stats({s: m["average"] for s, m in runs.items()}),
            "buckets": {b: _stats({s: m["buckets"][b] for s, m in runs.items()}) for b in BUCKETS},
            "by_frames": {t: _stats({s: m["by_frames"].get(t) for s, m in runs.items()}) for t in first["by_frames"]},
            "by_needle": {
                n: _stats({s: m["by_needle"].get(n) for s, m in runs.items()}) for n in first.get("by_needle", {})
            },
        }
        for key in ("misses_beyond_s0_context", "beyond_s0_context_other_needles"):
            models[name][key] = {s: m.get(key) for s, m in runs.items()}
        if "rope_theta" in first:
            models[name]["rope_theta"] = {s: m["rope_theta"] for s, m in runs.items()}
    return models


def rope_sweep(per_seed: dict[int, dict]) -> dict:
    """θ -> mean ± CI over seeds of short_lm's V-NIAH at that θ (average and > 4x S0 ctx)."""
    thetas = dict.fromkeys(t for r in per_seed.values() for t in r["rope"]["sweep"])
    return {
        t: {
            "average": _stats({s: r["rope"]["sweep"].get(t, {}).get("average") for s, r in per_seed.items()}),
            "beyond_4x_s0_context": _stats(
                {
                    s: r["rope"]["sweep"].get(t, {}).get("buckets", {}).get("beyond_4x_s0_context")
                    for s, r in per_seed.items()
                }
            ),
        }
        for t in thetas
    }


def text_niah(per_seed: dict[int, dict]) -> dict:
    lms = dict.fromkeys(n for r in per_seed.values() for n in r["text_niah"])
    out = {}
    for lm in lms:
        runs = {s: r["text_niah"][lm] for s, r in per_seed.items() if lm in r["text_niah"]}
        lengths = next(iter(runs.values()))["by_tokens"]
        out[lm] = {t: _stats({s: m["by_tokens"].get(t) for s, m in runs.items()}) for t in lengths}
    return out


def stage_timings(per_seed: dict[int, dict]) -> dict:
    """Per stage kind: mean seconds and tokens/s over seeds (stages computed in this or earlier runs)."""
    out: dict[str, dict] = {}
    for r in per_seed.values():
        for label, rate in r["stage_rates"].items():
            entry = out.setdefault(label, {"seconds": [], "tokens_per_s": []})
            entry["seconds"].append(rate["seconds"])
            if rate["tokens_per_s"]:
                entry["tokens_per_s"].append(rate["tokens_per_s"])
    return {k: {"seconds": _mean(v["seconds"]), "tokens_per_s": _mean(v["tokens_per_s"])} for k, v in out.items()}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_seed_results(per_seed: dict[int, dict], wall_s: dict[int, float]) -> dict:
    return {
        "seeds": sorted(per_seed),
        "machine": machine_info(),
        "models": aggregate(per_seed),
        "rope_sweep": rope_sweep(per_seed),
        "text_niah": text_niah(per_seed),
        "acceptance": overall_checks(per_seed),
        "stage_timings": stage_timings(per_seed),
        "seed_wall_s": wall_s,
        "context": next(iter(per_seed.values()))["context"],
    }


def write_seed_report(
    runs: dict[int, ReproduceResult], per_seed: dict[int, dict], wall_s: dict[int, float], out: Path
) -> dict:
    """results.json, report.md and the mean-over-seeds heatmaps in `out` (per_seed: each seed's results)."""
    out = Path(out)
    results = build_seed_results(per_seed, wall_s)
    atomic_write_json(out / "results.json", results)
    panels = []
    for name in results["models"]:
        entries, layout = [], None
        for s in per_seed:
            seed_entries, layout = load_entries(runs[s].vniah[name].path / "all_accuracies.json")
            entries += seed_entries  # duplicate cells are averaged by the heatmap: the mean over seeds
        plot_heatmap(entries, out / f"heatmap_{name}.png", layout, f"{name}, mean over {len(per_seed)} seed(s)")
        panels.append((entries, layout, name))
    plot_compare(*panels, out_png=out / "vniah_side_by_side.png", columns=2 if len(runs) > 2 else None)
    atomic_write_text(out / "report.md", render_markdown(results))
    return results


# ---- Markdown ------------------------------------------------------------------------------------


def _f(stats: dict) -> str:
    if stats["mean"] is None:
        return "–"
    if stats["ci95"] is None:
        return f"{stats['mean']:.3f}"
    return f"{stats['mean']:.3f} ± {stats['ci95'][1] - stats['mean']:.3f}"


def _v(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def mean_table(results: dict) -> str:
    """Model × (average, buckets, frame counts): mean ± 95% CI half-width over seeds."""
    frames = list(next(iter(results["models"].values()))["by_frames"])
    head = (
        "| model | average | "
        + " | ".join(BUCKET_NAMES.values())
        + " | "
        + " | ".join(f"{t} fr" for t in frames)
        + " |"
    )
    rows = [head, "|" + "---|" * (2 + len(BUCKET_NAMES) + len(frames))]
    for name, m in results["models"].items():
        cells = (
            [_f(m["average"])] + [_f(m["buckets"][b]) for b in BUCKET_NAMES] + [_f(m["by_frames"][t]) for t in frames]
        )
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def seeds_table(results: dict) -> str:
    """Every seed's value: model × seed, 'average / > 4× S0 ctx'."""
    seeds = results["seeds"]
    rows = ["| model | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|" + "---|" * (1 + len(seeds))]
    for name, m in results["models"].items():
        far = m["buckets"]["beyond_4x_s0_context"]["per_seed"]
        cells = [f"{_v(m['average']['per_seed'].get(s))} / {_v(far.get(s))}" for s in seeds]
        if "rope_theta" in m:
            cells = [
                f"{c} (θ {theta_text(m['rope_theta'][s])})" if s in m["rope_theta"] else c for c, s in zip(cells, seeds)
            ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def misses_table(results: dict) -> str:
    """Model × seed: the most common answer on the cells missed beyond the S0 context."""
    seeds = results["seeds"]
    rows = ["| model | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|" + "---|" * (1 + len(seeds))]
    for name, m in results["models"].items():
        misses, others = m.get("misses_beyond_s0_context", {}), m.get("beyond_s0_context_other_needles", {})
        rows.append(f"| {name} | " + " | ".join(miss_text(misses.get(s), others.get(s)) for s in seeds) + " |")
    return "\n".join(rows)


def acceptance_table(results: dict) -> str:
    seeds = results["seeds"]
    rows = [
        "| check | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± 95% CI | verdict |",
        "|" + "---|" * (3 + len(seeds)),
    ]
    for check in results["acceptance"].values():
        per = check["per_seed"]
        stats = {"mean": check["mean"], "ci95": check["ci95"]}
        rows.append(
            f"| {check['text']} | "
            + " | ".join(_v(per.get(s)) for s in seeds)
            + f" | {_f(stats)} | {'MET' if check['ok'] else 'NOT MET'} |"
        )
    return "\n".join(rows)


def rope_table(results: dict) -> str:
    rows = ["| RoPE θ at evaluation (short_lm) | average | > 4× S0 ctx |", "|---|---|---|"]
    rows += [
        f"| {t} | {_f(r['average'])} | {_f(r['beyond_4x_s0_context'])} |" for t, r in results["rope_sweep"].items()
    ]
    return "\n".join(rows)


def needle_table(results: dict) -> str:
    needles = list(next(iter(results["models"].values()))["by_needle"])
    rows = ["| model | " + " | ".join(needles) + " |", "|" + "---|" * (1 + len(needles))]
    rows += [
        f"| {name} | " + " | ".join(_f(m["by_needle"][n]) for n in needles) + " |"
        for name, m in results["models"].items()
    ]
    return "\n".join(rows)


def text_table(results: dict) -> str:
    lengths = list(next(iter(results["text_niah"].values()), {}))
    rows = ["| LM | " + " | ".join(f"{t} tok" for t in lengths) + " |", "|" + "---|" * (1 + len(lengths))]
    rows += [f"| {lm} | " + " | ".join(_f(by[t]) for t in lengths) + " |" for lm, by in results["text_niah"].items()]
    return "\n".join(rows)


def render_markdown(results: dict) -> str:
    ctx, n = results["context"], len(results["seeds"])
    walls = results["seed_wall_s"]
    lines = [
        "# LongVA at toy scale: long context transfer from language to vision, over seeds",
        "",
        f"Seeds {', '.join(map(str, results['seeds']))}; every model trained from nothing per seed."
        f" Tokens per frame {ctx['tokens_per_frame']}; S0 text context {ctx['s0_text_tokens']} tokens; S1"
        f" {ctx['s1_long_tokens']} tokens; longest alignment image {ctx['longest_alignment_visual_tokens']}"
        f" visual tokens; longest V-NIAH cell {ctx['longest_vniah_visual_tokens']} visual tokens.",
        f"Machine: {machine_line(results['machine'])}.",
        "",
        f"## V-NIAH, mean ± 95% CI over {n} seed(s)",
        "",
        mean_table(results),
        "",
        "![V-NIAH heatmaps, mean over seeds](vniah_side_by_side.png)",
        "",
        "## Every seed (average / > 4× S0 ctx)",
        "",
        seeds_table(results),
        "",
        "## Per needle (mean over seeds)",
        "",
        needle_table(results),
        "",
        "## What a model answers when it misses (cells beyond the S0 context)",
        "",
        "The most common answer on the missed cells. A model that ends its answer scores 0 there; one"
        " that falls back on one fixed colour is credited on 1 needle in 8 at every length. \"others\":"
        " the accuracy beyond the S0 context on the needles other than that answer, what the model reads"
        " without that credit (a diagnostic: the checks use the whole bucket).",
        "",
        misses_table(results),
        "",
        "## Training-free RoPE θ sweep",
        "",
        "short_lm_rope reports, per seed, the θ that is best beyond 4× the S0 context.",
        "",
        rope_table(results),
        "",
        "## Text NIAH (the language models alone)",
        "",
        text_table(results),
        "",
        "## Stages (mean over seeds; seconds when computed, tokens/s)",
        "",
        *[
            f"- {k}: {v['seconds']:.1f} s" + (f", {v['tokens_per_s']:,.0f} tokens/s" if v["tokens_per_s"] else "")
            for k, v in results["stage_timings"].items()
        ],
        "",
        "Wall time per seed in this invocation: " + ", ".join(f"seed {s} {w:.0f} s" for s, w in walls.items()) + ".",
        "",
        "## Acceptance",
        "",
        acceptance_table(results),
    ]
    return "\n".join(lines) + "\n"
