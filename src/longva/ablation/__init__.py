"""A generic ablation-plan engine: plans (AblationBench format) -> compiled experiments -> runs -> report.

The engine knows no recipe: a recipe adapter registers its knobs, value phrasings, metrics and
target into a `Registry` (this package's LongVA adapter: `longva.recipes.ablation`).

    from longva.ablation import Registry, compile_plan, load_plan, run_ablation
    from longva.recipes.ablation.adapter import RecipeView
    from longva.recipes.ablation.adapter import register
    registry = Registry()
    register(registry)                                   # explicit: nothing registers on import
    base = RecipeView.default()
    compiled = compile_plan(load_plan("plan.md"), registry, base)
    compiled.raise_if_unresolved(); compiled.to_json()  # one object per variant
    run = run_ablation(compiled, registry.target, base, "runs/ablate/plan", seeds=3)

Modules, in dependency order: errors, plan (and the text rules of its fields), parse_markdown,
parse (reading plans); items (and explicit overrides), target (config view and the recipe
contract), knobs (part resolution and value recognisers), metric_registry, registry, compiler;
report_output (report.md, printed tables, charts), result_tables, execution.
"""

from longva.ablation.compiler import CompiledPlan, Variant, compile_plan
from longva.ablation.errors import CompileError, PlanError, UnknownMetricError
from longva.ablation.execution import AblationRun, run_ablation
from longva.ablation.items import ExplicitOverrides
from longva.ablation.knobs import Knob
from longva.ablation.parse import load_plan, parse_plan
from longva.ablation.plan import Action, Plan, PlanEntry
from longva.ablation.registry import MetricSpec, Registry, load_plugins
from longva.ablation.target import ConfigView, Target

__all__ = [
    "AblationRun", "Action", "CompileError", "CompiledPlan", "ConfigView", "ExplicitOverrides", "Knob",
    "MetricSpec", "Plan", "PlanEntry", "PlanError", "Registry", "Target", "UnknownMetricError", "Variant",
    "compile_plan", "load_plan", "load_plugins", "parse_plan", "run_ablation",
]
