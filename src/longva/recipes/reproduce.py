"""`longva reproduce`: the LongVA finding end to end at toy scale, with its baselines.

    longva          S0 -> S1 (RoPE base raised, x8 longer text) -> S2 UniRes alignment (short images)
    short_lm        S0 -> S2 UniRes                          (baseline a: no long-context training)
    short_lm_rope   short_lm, RoPE base raised at evaluation  (baseline b: training-free extrapolation;
                    θ swept as the paper did, the best θ reported)
    anyres          S0 -> S1 -> S2 with AnyRes instead of UniRes (baseline c)

Every S2 starts from the same pretrained tower (V0, one per seed). Each model gets V-NIAH; the
S0 and S1 language models get text NIAH; the LongVA model also gets the video-QA proxy.
Everything is cached per stage, so a rerun (or a killed run) only computes what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from longva.errors import ConfigError
from longva.recipes.config import RecipeConfig
from longva.recipes.metrics import best_theta, vniah_numbers
from longva.recipes.stage_runner import RecipeRunner, StageResult, load_cells

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
    vision: StageResult | None = None  # the pretrained tower (None when V0 is disabled)
    rope_sweep: dict[float, dict] = field(default_factory=dict)  # θ -> V-NIAH numbers of short_lm
    rope_theta: float | None = None  # the θ reported as short_lm_rope
    timings: dict[str, float] = field(default_factory=dict)


def reproduce(cfg: RecipeConfig, out: Path, log=None) -> ReproduceResult:
    """Run (or resume) every stage of the recipe and its baselines; returns the stage results."""
    runner = RecipeRunner(cfg, Path(out) / "cache", log)
    res = ReproduceResult(cfg)
    res.vision = runner.v0_vision()
    s0 = res.lms["s0_text"] = runner.s0_text()
    s1 = res.lms["s1_long"] = runner.s1_long()
    res.models["longva"] = runner.s2_align(s1)
    res.vniah["longva"] = runner.vniah(res.models["longva"], label="V-NIAH longva")
    if "short_lm" in cfg.baselines or "short_lm_rope" in cfg.baselines:
        res.models["short_lm"] = runner.s2_align(s0)
    if "short_lm" in cfg.baselines:
        res.vniah["short_lm"] = runner.vniah(res.models["short_lm"], label="V-NIAH short_lm")
    if "short_lm_rope" in cfg.baselines:
        _rope_baseline(runner, res)
    if "anyres" in cfg.baselines:
        res.models["anyres"] = runner.s2_align(s1, scheme="anyres")
        res.vniah["anyres"] = runner.vniah(res.models["anyres"], label="V-NIAH anyres")
    res.text_niah["s0_text"] = runner.text_niah(s0, label="text NIAH s0")
    if cfg.stages.s1_long.enabled:
        res.text_niah["s1_long"] = runner.text_niah(s1, label="text NIAH s1")
    res.video_qa["longva"] = runner.video_qa_proxy(res.models["longva"])
    res.timings = _stage_timings(res)
    return res


def _rope_baseline(runner: RecipeRunner, res: ReproduceResult) -> None:
    """V-NIAH of short_lm at every θ of the sweep; the best one is reported as short_lm_rope."""
    cfg = res.cfg
    base = cfg.stages.s0_text.rope_theta
    thetas = [base * f for f in cfg.eval.rope_sweep_factors] or [cfg.stages.s1_long.rope_theta]
    model = res.models["short_lm"]
    stages = {float(t): runner.vniah(model, rope_theta=float(t), label=f"V-NIAH short_lm_rope θ={t:g}") for t in thetas}
    tpf = model.info["tokens_per_frame"]
    res.rope_sweep = {t: vniah_numbers(load_cells(st), tpf, cfg.stages.s0_text.seq_len) for t, st in stages.items()}
    res.rope_theta = best_theta(res.rope_sweep)
    res.vniah["short_lm_rope"] = stages[res.rope_theta]


def _stage_timings(res: ReproduceResult) -> dict[str, float]:
    """Seconds each stage took when it was computed (cached stages keep their first timing)."""
    out: dict[str, float] = {}
    if res.vision is not None:
        out["v0_vision:tower"] = float(res.vision.info.get("seconds", 0.0))
    for group in (res.lms, res.models, res.vniah, res.text_niah, res.video_qa):
        for name, stage in group.items():
            out[f"{stage.name}:{name}"] = float(stage.info.get("seconds", 0.0))
    return out


def parse_seeds(text: str) -> list[int]:
    """'3' -> [0, 1, 2] (a count); '0,2,5' -> [0, 2, 5] (a list). One-line error otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.lstrip("-").isdigit() for p in parts):
        raise ConfigError(
            f"--seeds: {text!r} is not a count (e.g. 3 = seeds 0,1,2) "
            "or a comma-separated list of integers (e.g. 0,1,2)"
        )
    values = [int(p) for p in parts]
    if len(values) == 1:
        if not 1 <= values[0] <= 100:
            raise ConfigError(
                f"--seeds: a count must be in 1..100, got {values[0]}; give a list (e.g. 7,8) for other seeds"
            )
        return list(range(values[0]))
    if min(values) < 0 or len(set(values)) != len(values):
        raise ConfigError(f"--seeds: seeds must be distinct non-negative integers, got {text!r}")
    return values
