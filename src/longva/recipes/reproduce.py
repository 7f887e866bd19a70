"""`longva reproduce`: the LongVA finding end to end at toy scale, with its baselines.

    longva          S0 -> S1 (RoPE base raised, x8 longer text) -> S2 UniRes alignment (short images)
    short_lm        S0 -> S2 UniRes                          (baseline a: no long-context training)
    short_lm_rope   short_lm, RoPE base raised at evaluation  (baseline b: training-free extrapolation)
    anyres          S0 -> S1 -> S2 with AnyRes instead of UniRes (baseline c)

Each model gets V-NIAH; the S0 and S1 language models get text NIAH; the LongVA model also
gets the video-QA proxy. Everything is cached per stage, so a rerun (or a killed run) only
computes what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from longva.recipes.config import RecipeConfig
from longva.recipes.runner import RecipeRunner, StageResult

MODELS = {
    "longva": "S0 → S1 (RoPE base raised, long text) → S2 UniRes alignment on short images",
    "short_lm": "baseline (a): S0 → S2 UniRes, no long-context text training",
    "short_lm_rope": "baseline (b): (a) with the RoPE base raised at evaluation only",
    "anyres": "baseline (c): S0 → S1 → S2 with AnyRes instead of UniRes",
}


@dataclass
class ReproduceResult:
    cfg: RecipeConfig
    vniah: dict[str, StageResult] = field(default_factory=dict)
    models: dict[str, StageResult] = field(default_factory=dict)
    text_niah: dict[str, StageResult] = field(default_factory=dict)
    video_qa: dict[str, StageResult] = field(default_factory=dict)
    lms: dict[str, StageResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def reproduce(cfg: RecipeConfig, out: Path, log=None) -> ReproduceResult:
    """Run (or resume) every stage of the recipe and its baselines; returns the stage results."""
    runner = RecipeRunner(cfg, Path(out) / "cache", log)
    res = ReproduceResult(cfg)
    s0 = res.lms["s0_text"] = runner.s0_text()
    s1 = res.lms["s1_long"] = runner.s1_long()
    res.models["longva"] = runner.s2_align(s1)
    res.vniah["longva"] = runner.vniah(res.models["longva"], label="V-NIAH longva")
    if "short_lm" in cfg.baselines or "short_lm_rope" in cfg.baselines:
        res.models["short_lm"] = runner.s2_align(s0)
    if "short_lm" in cfg.baselines:
        res.vniah["short_lm"] = runner.vniah(res.models["short_lm"], label="V-NIAH short_lm")
    if "short_lm_rope" in cfg.baselines:
        theta = cfg.stages.s1_long.rope_theta
        res.vniah["short_lm_rope"] = runner.vniah(res.models["short_lm"], rope_theta=theta, label="V-NIAH short_lm_rope")
    if "anyres" in cfg.baselines:
        res.models["anyres"] = runner.s2_align(s1, scheme="anyres")
        res.vniah["anyres"] = runner.vniah(res.models["anyres"], label="V-NIAH anyres")
    res.text_niah["s0_text"] = runner.text_niah(s0, label="text NIAH s0")
    if cfg.stages.s1_long.enabled:
        res.text_niah["s1_long"] = runner.text_niah(s1, label="text NIAH s1")
    res.video_qa["longva"] = runner.video_qa_proxy(res.models["longva"])
    res.timings = _stage_timings(res)
    return res


def _stage_timings(res: ReproduceResult) -> dict[str, float]:
    """Seconds each stage took when it was computed (cached stages keep their first timing)."""
    out: dict[str, float] = {}
    for group in (res.lms, res.models, res.vniah, res.text_niah, res.video_qa):
        for name, stage in group.items():
            out[f"{stage.name}:{name}"] = float(stage.info.get("seconds", 0.0))
    return out
