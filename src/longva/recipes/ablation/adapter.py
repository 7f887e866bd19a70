"""The LongVA recipe's adapter to the ablation engine: `register(registry)` adds its knobs, value
phrasings, stage qualifiers, metrics (with their evaluators) and target, explicitly; importing
this module registers nothing. The base every plan is compiled against, `RecipeView` (the demo
recipe at the ablation base's scale), is section `ablation_base` below.

    registry = Registry(); register(registry)                 # or: registry = longva_registry()
    compiled = compile_recipe_plan(load_plan("plan.md"))      # against RecipeView.default()
    run = run_recipe_ablation(compiled, "runs/ablate/plan", seeds=3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longva.ablation.compiler import CompiledPlan, compile_plan
from longva.ablation.execution import AblationRun, OnRunDone, run_ablation
from longva.ablation.items import ExplicitOverrides
from longva.ablation.plan import Plan
from longva.ablation.registry import Registry
from longva.ablation.target import ConfigView
from longva.model.config import LongVAConfig
from longva.recipes.ablation.phrasings import ARCHITECTURE_RECOGNISERS, RECOGNISERS
from longva.recipes.ablation.recipe_knobs import KNOBS, STAGE_QUALIFIERS
from longva.recipes.ablation.recipe_metrics import METRICS
from longva.recipes.ablation.recipe_target import RecipeTarget
from longva.recipes.ablation.visual_tokens import FRAMES_PATH, iso_token_frames, tokens_per_frame
from longva.recipes.config import RecipeConfig, quick_config
from longva.utils.dataclass_config import load_config, set_path


def register(registry: Registry) -> Registry:
    """Add the LongVA recipe's knobs, phrasings, stage qualifiers, metrics and target to `registry`."""
    for knob in KNOBS:
        registry.add_knob(knob)
    for knob_id, name, fn in (*RECOGNISERS, *ARCHITECTURE_RECOGNISERS):
        registry.add_recogniser(knob_id, name, fn)
    registry.add_stage_qualifiers(STAGE_QUALIFIERS)
    for spec in METRICS:
        registry.add_metric(spec)
    registry.set_target(RecipeTarget())
    return registry


def longva_registry() -> Registry:
    """A new registry holding the LongVA recipe (and nothing else)."""
    return register(Registry())


def compile_recipe_plan(plan: Plan, base: RecipeView | None = None, registry: Registry | None = None,
                        explicit: ExplicitOverrides | None = None, skip_unknown_metrics: bool = False,
                        data_dir: str | None = None, counts: str = "relative") -> CompiledPlan:
    """`compile_plan` against the LongVA recipe (default base: `RecipeView.default()`)."""
    return compile_plan(plan, registry or longva_registry(), base or RecipeView.default(), explicit=explicit,
                        skip_unknown_metrics=skip_unknown_metrics, data_dir=data_dir, counts=counts)


def run_recipe_ablation(compiled: CompiledPlan, out_dir: Path | str | None = None, seeds: int = 1,
                        quick: bool = False, *, base: RecipeView | None = None, threads: int | None = None,
                        vniah_grid: str = "iso-tokens", cache_dir: Path | str | None = None,
                        on_run_done: OnRunDone | None = None) -> AblationRun:
    """Run a compiled plan on the LongVA recipe (resumably) and write its report into `out_dir`.

    `base` must be the recipe the plan was compiled against (default: `RecipeView.default(quick)`);
    the stage cache is `<out>/cache` unless `cache_dir` is given (share it between plans)."""
    target = RecipeTarget(vniah_grid=vniah_grid, threads=threads, quick=quick)
    out = Path(out_dir) if out_dir else default_out_dir(compiled)
    return run_ablation(compiled, target, base or RecipeView.default(quick=quick), out, seeds, cache_dir=cache_dir,
                        on_run_done=on_run_done)


def default_out_dir(compiled: CompiledPlan) -> Path:
    stem = Path(compiled.plan.source).stem if compiled.plan.source else "plan"
    return Path("runs") / "ablate" / stem


# ---- ablation_base --------------------------------------------------------------------------------
# The base recipe ablations run on: the toy LongVA recipe with a 48 px tower.
#
# The recipe's 32 px tower gives a 4x4 patch map, on which pooling kernels 3 and 5 (the kernels
# LongVA's plans ablate) would collapse or not fit: ablations run at 48 px (6x6 patches, 9 tokens
# per frame), with the alignment images' grid caps and the V-NIAH frame counts scaled by 4/9 so the
# visual-token lengths stay the recipe's.
#
# At 9 tokens a grid the recipe's S0 context (128 tokens) holds images of 10 grids only, and with
# so few distractors per image alignment stalled on 1 of 3 seeds (V-NIAH 0.79, seed 2; 1.0 on
# the others). The base therefore keeps the recipe's earlier S0 context: 256 tokens at θ 1e3 and
# images of up to 32 grids at 32 px (14 grids at 48 px); that base reached 0.997-1.000 on seeds 0-2.
# It also keeps the earlier alignment batches, whose images draw their grid counts one by one.
ABLATION_IMAGE_SIZE = 48  # 48 px / patch 8 = a 6x6 patch map
ABLATION_BASE_PINS = {  # the base's S0 and alignment data (see above), before the 48 px scaling
    "stages.s0_text.seq_len": 256, "stages.s0_text.easy_seq_len": 256, "stages.s0_text.easy_needle_copies": 16,
    "stages.s0_text.rope_theta": 1e3, "stages.s2_align.max_grids": 32,
    "stages.s2_align.same_grids_per_batch": False,
}


class RecipeView(ConfigView):
    """A `RecipeConfig` as the ablation compiler sees it."""

    @classmethod
    def default(cls, quick: bool = False) -> RecipeView:
        if quick:
            config = set_path(quick_config(), "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
            return cls(config, origin=f"quick_config(), tower at {ABLATION_IMAGE_SIZE} px")
        return cls(ablation_base(RecipeConfig()), origin=f"RecipeConfig() defaults, tower at {ABLATION_IMAGE_SIZE} px"
                                                         " at the recipe's visual-token lengths")

    @classmethod
    def from_file(cls, path: str | Path) -> RecipeView:
        return cls(load_config(RecipeConfig, path), origin=str(path))

    def model_config(self) -> LongVAConfig:
        return self.config.model

    def canonical(self, tree: dict[str, Any]) -> dict[str, Any]:
        pooling = tree.get("model", {}).get("pooling")
        if isinstance(pooling, dict) and pooling.get("stride") is None:
            pooling["stride"] = pooling.get("kernel")  # stride None means stride = kernel
        return tree


def ablation_base(recipe: RecipeConfig) -> RecipeConfig:
    """`recipe` with its S0 context at 256 tokens and the 48 px tower, at the recipe's own
    visual-token lengths.

    48 px gives 9 tokens per grid instead of 4, so the alignment images' grid caps and the V-NIAH
    frame counts are scaled by 4/9: the base aligns on images of <= 126 visual tokens (14 grids,
    inside its 256-token S0 context) and is tested on haystacks of 72..1,800 tokens (recipe:
    68..1,796). Kept at the recipe's grid and frame counts, its images would exceed the S0
    context and its haystacks double in length (an earlier recipe's base reached V-NIAH 0.59
    that way, failing even inside the S0 context)."""
    for path, value in ABLATION_BASE_PINS.items():
        recipe = set_path(recipe, path, value)
    ours = tokens_per_frame(RecipeView(recipe, "recipe"))
    config = set_path(recipe, "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
    theirs = tokens_per_frame(RecipeView(config, "ablation"))
    align = recipe.stages.s2_align
    for path, grids in (("max_grids", align.max_grids), ("easy_max_grids", align.easy_max_grids)):
        scaled = iso_token_frames([grids], ours, theirs)[0]  # the same iso-token rounding as the frames
        config = set_path(config, f"stages.s2_align.{path}", max(align.min_grids, scaled))
    return set_path(config, FRAMES_PATH, iso_token_frames(recipe.eval.vniah.frames, ours, theirs))
