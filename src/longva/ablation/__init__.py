"""`longva ablate`: ablation plans (AblationBench format) -> compiled experiments -> runs -> report.

    from longva.ablation import load_plan, compile_plan, run_plan
    compiled = compile_plan(load_plan("plan.md"))       # against RecipeConfig() defaults
    compiled.raise_if_unresolved(); compiled.to_json()  # one object per variant
    result = run_plan(compiled, "runs/ablate/plan")     # resumable; result.results = results.json

Parsing needs no torch; compiling imports the model (token arithmetic), so the heavy names are
loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from longva.ablation.errors import CompileError, PlanError, UnknownMetricError
from longva.ablation.parse import load_plan, parse_plan
from longva.ablation.plan import Action, Plan, PlanEntry

_LAZY = {
    "compile_plan": "longva.ablation.compiler",
    "CompiledPlan": "longva.ablation.compiler",
    "Variant": "longva.ablation.compiler",
    "RecipeView": "longva.ablation.recipe",
    "Knob": "longva.ablation.knobs",
    "register_knob": "longva.ablation.registry",
    "recogniser": "longva.ablation.registry",
    "default_registry": "longva.ablation.registry",
    "MetricSpec": "longva.ablation.metrics",
    "register_metric": "longva.ablation.metrics",
    "default_metrics": "longva.ablation.metrics",
    "ExplicitOverrides": "longva.ablation.overrides",
    "run_plan": "longva.ablation.runner",
    "AblationRun": "longva.ablation.runner",
    "register_evaluator": "longva.ablation.evaluators",
}

__all__ = ["Action", "CompileError", "Plan", "PlanEntry", "PlanError", "UnknownMetricError", "load_plan",
           "parse_plan", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'longva.ablation' has no attribute {name!r}")
