"""A generic ablation-plan engine: plans (AblationBench format) -> compiled experiments -> runs -> report.

The engine knows no recipe: a recipe adapter registers its knobs, value phrasings, metrics and
target into a `Registry` (this package's LongVA adapter: `longva.recipes.ablation`).

    from longva.ablation import Registry, compile_plan, load_plan, run_ablation
    from longva.recipes.ablation.ablation_base import RecipeView
    from longva.recipes.ablation.adapter import register
    registry = Registry()
    register(registry)                                   # explicit: nothing registers on import
    base = RecipeView.default()
    compiled = compile_plan(load_plan("plan.md"), registry, base)
    compiled.raise_if_unresolved(); compiled.to_json()  # one object per variant
    run = run_ablation(compiled, registry.target, base, "runs/ablate/plan", seeds=3)

Modules, in dependency order: errors, plan_text, plan, parse_markdown, parse (reading plans); items,
target (config view and the recipe contract), knobs (and part resolution), recognisers,
metric_registry, registry, overrides, compiler; report_text, charts, result_tables, execution.
"""

from longva.ablation.compiler import CompiledPlan, Variant, compile_plan
from longva.ablation.errors import CompileError, PlanError, UnknownMetricError
from longva.ablation.execution import AblationRun, run_ablation
from longva.ablation.knobs import Knob
from longva.ablation.metric_registry import MetricSpec
from longva.ablation.overrides import ExplicitOverrides
from longva.ablation.parse import load_plan, parse_plan
from longva.ablation.plan import Action, Plan, PlanEntry
from longva.ablation.registry import Registry, load_plugins
from longva.ablation.target import ConfigView, Target

__all__ = [
    "AblationRun", "Action", "CompileError", "CompiledPlan", "ConfigView", "ExplicitOverrides", "Knob",
    "MetricSpec", "Plan", "PlanEntry", "PlanError", "Registry", "Target", "UnknownMetricError", "Variant",
    "compile_plan", "load_plan", "load_plugins", "parse_plan", "run_ablation",
]
