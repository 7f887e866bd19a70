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
from longva.recipes.schedule import rope_job, rope_thetas, run_jobs
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


def reproduce(cfg: RecipeConfig, out: Path, log=None, workers: int | None = None) -> ReproduceResult:
    """Run (or resume) every stage of the recipe and its baselines; returns the stage results.

    The stages run as `longva.recipes.schedule` lays them out: the text stages with all
    `cfg.threads`, then the rest at one thread each, in `workers` (default `cfg.threads`) processes."""
    stages = run_jobs(cfg, RecipeRunner(cfg, Path(out) / "cache", log), workers)
    res = ReproduceResult(cfg, vision=stages["v0_vision"])
    res.lms = {name: stages[name] for name in ("s0_text", "s1_long")}
    res.models = {name: stages[f"s2:{name}"] for name in ("longva", "short_lm", "anyres") if f"s2:{name}" in stages}
    if "short_lm_rope" in cfg.baselines:
        stages["vniah:short_lm_rope"] = _pick_rope_theta(res, {t: stages[rope_job(t)] for t in rope_thetas(cfg)})
    res.vniah = {name: stages[f"vniah:{name}"] for name in MODELS if f"vniah:{name}" in stages}  # the tables' order
    res.text_niah = {lm: stages[f"text_niah:{lm}"] for lm in ("s0_text", "s1_long") if f"text_niah:{lm}" in stages}
    res.video_qa["longva"] = stages["video_qa:longva"]
    res.timings = _stage_timings(res)
    return res


def _pick_rope_theta(res: ReproduceResult, sweep: dict[float, StageResult]) -> StageResult:
    """Numbers of short_lm's V-NIAH at every θ of the sweep; the best θ's is short_lm_rope's."""
    tpf = res.models["short_lm"].info["tokens_per_frame"]
    s0_ctx = res.cfg.stages.s0_text.seq_len
    res.rope_sweep = {theta: vniah_numbers(load_cells(stage), tpf, s0_ctx) for theta, stage in sweep.items()}
    res.rope_theta = best_theta(res.rope_sweep)
    return sweep[res.rope_theta]


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
