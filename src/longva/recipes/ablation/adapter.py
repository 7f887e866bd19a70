"""The LongVA recipe's adapter to the ablation engine: `register(registry)` adds its knobs, value
phrasings, stage qualifiers, metrics (with their evaluators) and target, explicitly; importing
this module registers nothing.

    registry = Registry(); register(registry)                 # or: registry = longva_registry()
    compiled = compile_recipe_plan(load_plan("plan.md"))      # against RecipeView.default()
    run = run_recipe_ablation(compiled, "runs/ablate/plan", seeds=3)
"""

from __future__ import annotations

from pathlib import Path

from longva.ablation.compiler import CompiledPlan, compile_plan
from longva.ablation.execution import AblationRun, OnRunDone, run_ablation
from longva.ablation.overrides import ExplicitOverrides
from longva.ablation.plan import Plan
from longva.ablation.registry import Registry
from longva.recipes.ablation.ablation_base import RecipeView
from longva.recipes.ablation.phrasings import RECOGNISERS
from longva.recipes.ablation.recipe_knobs import KNOBS, STAGE_QUALIFIERS
from longva.recipes.ablation.recipe_metrics import METRICS
from longva.recipes.ablation.recipe_target import RecipeTarget


def register(registry: Registry) -> Registry:
    """Add the LongVA recipe's knobs, phrasings, stage qualifiers, metrics and target to `registry`."""
    for knob in KNOBS:
        registry.add_knob(knob)
    for knob_id, name, fn in RECOGNISERS:
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
