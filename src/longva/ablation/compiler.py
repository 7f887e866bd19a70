"""Compile a parsed plan into variants of our recipe, before any compute.

Per entry: resolve its metrics, find the knob its part names (or take `--part`), then turn each
item into config overrides (explicit overrides first, then the recognisers), apply them to the
base recipe (typed; unknown paths fail with close names), and derive what the table must show:
stages to re-run, tokens per frame, warnings.

Action semantics: REPLACE and ADD with items -> one variant per item; REMOVE -> one variant, the
knob's removal (an error for a parameter knob); ADD without items -> one variant enabling the
component (the knob must be addable). The baseline is one shared run; items that are marked
"(default)" or equal the base become baseline rows (no extra run), and variants with identical
configurations across entries share one run (same `run_id`, the config hash).

Nothing raises on a bad entry: every problem becomes a variant with `error` set (one line with
file:line), so a dry run shows all of them at once; `CompiledPlan.raise_if_unresolved()` is what
refuses to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longva.ablation.errors import CompileError, UnknownMetricError, located
from longva.ablation.items import Item, entry_items
from longva.ablation.knobs import BoundKnob, Knob, bind
from longva.ablation.metrics import MetricRegistry, ResolvedMetric, default_metrics
from longva.ablation.overrides import ExplicitOverrides
from longva.ablation.part_resolution import resolve_part
from longva.ablation.plan import Action, Plan, PlanEntry
from longva.ablation.recipe import STAGES, RecipeView, stage_of, stages_from
from longva.ablation.recognisers import Context, Resolution, UnsupportedValue, resolve_item
from longva.ablation.registry import KnobRegistry, default_registry
from longva.ablation.tokens import COUNT_POLICIES, POLICIES, budget, scale_count
from longva.errors import ConfigError

BASELINE = "(baseline)"
RECIPE_PAPERS = ("long_context_transfer_from_language_to_vision", "longva")  # paper slugs of our recipe


@dataclass
class Variant:
    entry: str
    item: str | None  # the item's label; None for an entry-level problem
    action: str  # REPLACE | REMOVE | ADD | BASELINE
    knob: str | None = None
    stage: str | None = None  # the stage a per-stage knob was bound to
    recogniser: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    is_baseline: bool = False
    stages: list[str] = field(default_factory=list)  # to re-run; [] = reuses the baseline run
    tokens_per_frame: int | None = None
    derived: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    entry_notes: list[str] = field(default_factory=list)  # about the entry as a whole
    warnings: list[str] = field(default_factory=list)
    metrics: list[ResolvedMetric] = field(default_factory=list)
    run_id: str | None = None
    duplicate_of: str | None = None  # "entry/item" of an earlier variant with the same config
    error: str | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry, "item": self.item, "action": self.action, "knob": self.knob,
            "stage": self.stage, "recogniser": self.recogniser, "overrides": self.overrides,
            "is_baseline": self.is_baseline, "stages": self.stages, "tokens_per_frame": self.tokens_per_frame,
            "derived": self.derived, "notes": self.entry_notes + self.notes, "warnings": self.warnings,
            "metrics": [m.to_json() for m in self.metrics], "run_id": self.run_id,
            "duplicate_of": self.duplicate_of, "error": self.error, "line": self.line,
        }


@dataclass
class CompiledPlan:
    plan: Plan
    base_origin: str
    policy: str
    baseline: Variant
    variants: list[Variant]
    counts: str = "relative"  # COUNT_POLICIES

    @property
    def errors(self) -> list[str]:
        return [v.error for v in self.variants if v.error]

    @property
    def runs(self) -> list[str]:
        """Distinct runs to execute, the shared baseline first."""
        out = [self.baseline.run_id] if self.baseline.run_id else []
        for v in self.variants:
            if v.run_id and v.run_id not in out and not v.error:
                out.append(v.run_id)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [self.baseline.to_json(), *(v.to_json() for v in self.variants)]

    def raise_if_unresolved(self) -> None:
        if self.errors:
            more = f" (+{len(self.errors) - 1} more; see --dry-run)" if len(self.errors) > 1 else ""
            raise CompileError(f"{self.errors[0]}{more}")


@dataclass(frozen=True)
class _Env:
    base: RecipeView
    registry: KnobRegistry
    metrics: MetricRegistry
    explicit: ExplicitOverrides
    policy: str
    skip_unknown_metrics: bool
    data_dir: str | None
    base_hash: str
    foreign_paper: str | None  # the plan's paper when it is not LongVA's
    counts: str = "relative"  # COUNT_POLICIES: how a count on the plan's own scale is applied



def compile_plan(
    plan: Plan,
    base: RecipeView | None = None,
    registry: KnobRegistry | None = None,
    metrics: MetricRegistry | None = None,
    explicit: ExplicitOverrides | None = None,
    policy: str = "stride_follows_kernel",
    skip_unknown_metrics: bool = False,
    data_dir: str | None = None,
    counts: str = "relative",
) -> CompiledPlan:
    if policy not in POLICIES:
        raise CompileError(f"unknown pooling policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if counts not in COUNT_POLICIES:
        raise CompileError(f"--counts {counts!r}: expected one of {', '.join(COUNT_POLICIES)}")
    base = base or RecipeView.default()
    env = _Env(base, registry or default_registry(), metrics or default_metrics(), explicit or ExplicitOverrides(),
               policy, skip_unknown_metrics, data_dir, base.config_hash(), _foreign_paper(plan), counts)
    items = {e.name: entry_items(e) for e in plan.entries}
    env.explicit.check_names({name: [i.label for i in its] for name, its in items.items()})
    variants = [v for entry in plan.entries for v in _compile_entry(entry, items[entry.name], env)]
    baseline = _baseline(plan, variants, env)
    _mark_duplicates(baseline, variants)
    return CompiledPlan(plan, base.origin, policy, baseline, variants, counts)


def _foreign_paper(plan: Plan) -> str | None:
    """The plan's paper when it is about another paper than LongVA (its entries get mapped)."""
    if plan.paper and not any(p in plan.paper.lower() for p in RECIPE_PAPERS):
        return plan.paper
    return None


def _baseline(plan: Plan, variants: list[Variant], env: _Env) -> Variant:
    facts = budget(env.base)
    seen: dict[str, ResolvedMetric] = {}
    for v in variants:
        for m in v.metrics:
            seen.setdefault(m.label(), m)
    return Variant(
        entry=BASELINE, item="base recipe", action="BASELINE", is_baseline=True, stages=list(STAGES),
        tokens_per_frame=facts["facts"]["tokens_per_frame"], derived=facts["facts"], warnings=facts["warnings"],
        metrics=list(seen.values()), run_id=env.base_hash,
        notes=[f"base: {env.base.origin}; shared by {', '.join(repr(e.name) for e in plan.entries)}"]
        + ([f"plan written for {env.foreign_paper!r}: its entries are applied to this recipe's equivalents"]
           if env.foreign_paper else []),
    )


def _mark_duplicates(baseline: Variant, variants: list[Variant]) -> None:
    first: dict[str, str] = {baseline.run_id or "": BASELINE}
    for v in variants:
        if not v.run_id or v.error:
            continue
        if v.run_id in first and not v.is_baseline:
            v.duplicate_of = first[v.run_id]
            v.stages = []
            v.notes.append(f"same configuration as {first[v.run_id]}: one run serves both")
        first.setdefault(v.run_id, f"{v.entry}/{v.item}")


# ---- one entry --------------------------------------------------------------------------------


def _compile_entry(entry: PlanEntry, items: list[Item], env: _Env) -> list[Variant]:
    metrics, out = _entry_metrics(entry, env)
    targets = _targets(entry, items)
    needs_knob = any(_explicit(entry, item, env) is None for item in targets)
    bound, entry_notes, declared = None, [], None
    if needs_knob:
        try:
            bound, entry_notes, declared = _bind_entry(entry, items, env)
        except (CompileError, ConfigError) as e:
            out.append(_error(entry, None, located(entry.source, entry.part_line or entry.line,
                                                   f"entry {entry.name!r}: {e}")))
    for item in targets:
        if _explicit(entry, item, env) is None and bound is None:
            continue  # covered by the entry-level error above
        variant = _compile_item(entry, item, bound, env, declared)
        variant.metrics, variant.entry_notes = metrics, entry_notes
        out.append(variant)
    return out


def _targets(entry: PlanEntry, items: list[Item]) -> list[Item]:
    """The items to compile; REMOVE and item-less ADD get one pseudo-item (label REMOVE / ADD)."""
    if entry.action is Action.REMOVE or (entry.action is Action.ADD and not items):
        return [Item(label=entry.action.value, raw=None, line=entry.action_line or entry.line)]
    return items


def _explicit(entry: PlanEntry, item: Item, env: _Env) -> dict[str, Any] | None:
    key = "" if item.raw is None and item.label in (Action.REMOVE.value, Action.ADD.value) else item.label
    return env.explicit.for_item(entry.name, key) or (item.inline or None)


def _entry_metrics(entry: PlanEntry, env: _Env) -> tuple[list[ResolvedMetric], list[Variant]]:
    """Resolved metrics, and one error for all unknown names of the entry (with closest ids)."""
    resolved, unknown = [], []
    for name in entry.metrics:
        try:
            resolved.append(env.metrics.resolve(name, env.data_dir, env.skip_unknown_metrics))
        except UnknownMetricError:
            unknown.append(f"{name!r} (closest: {', '.join(env.metrics.closest(name))})")
    if not unknown:
        return resolved, []
    message = (f"entry {entry.name!r}: unknown metric{'s' if len(unknown) > 1 else ''} {'; '.join(unknown)};"
               f" known: {', '.join(sorted(env.metrics.specs))} (or --skip-unknown-metrics)")
    return resolved, [_error(entry, None, located(entry.source, entry.metrics_line or entry.line, message))]


def _bind_entry(entry: PlanEntry, items: list[Item], env: _Env) -> tuple[BoundKnob, list[str], str | None]:
    """The entry's knob, notes about the binding, and the part's declared "(currently X)"."""
    text = f"{entry.ablated_part} {entry.name}"
    chosen = env.explicit.part_for(entry.name)
    if chosen is not None:
        knob_id, stage = chosen
        bound = bind(env.registry.knob(knob_id), text, stage, shown=entry.ablated_part)
        return bound, [*bound.notes, f"knob {knob_id} chosen with --part"], None
    match = resolve_part(entry.ablated_part, env.registry, lambda knob: _understood(knob, text, items, env))
    bound = bind(match.knob, text, shown=entry.ablated_part)
    notes = list(bound.notes)
    if env.foreign_paper and not bound.knob.equivalence:
        notes.append(f"applied as this recipe's {bound.knob.id}: {bound.knob.summary}")
    if match.declared_current is not None:
        notes += _current_notes(match.declared_current, bound, env)
    return bound, notes, match.declared_current


def _understood(knob: Knob, text: str, items: list[Item], env: _Env) -> tuple[int, int]:
    """How many items the knob's recognisers understand (the part-resolution cross-check)."""
    try:
        bound = bind(knob, text)
    except CompileError:
        return 0, len(items)
    count = 0
    for item in items:
        try:
            count += resolve_item(item, Context(bound, env.base, env.policy), env.registry) is not None
        except (UnsupportedValue, CompileError, ConfigError):
            pass
    return count, len(items)


def _current_notes(declared: str, bound: BoundKnob, env: _Env) -> list[str]:
    """Cross-check the part's "(currently X)" against our base; say so when they differ."""
    knob = bound.knob
    ours = knob.current(env.base, bound) if knob.current else (
        env.base.get(bound.path(knob.scalar)) if knob.scalar else None)
    if ours is None or str(ours) == declared.replace(",", ""):
        return []
    notes = [f"the plan's current value is {declared}; this recipe's base is {ours}"]
    return notes + ([knob.equivalence] if knob.equivalence else [])


# ---- one item ---------------------------------------------------------------------------------


def _compile_item(entry: PlanEntry, item: Item, bound: BoundKnob | None, env: _Env,
                  declared: str | None = None) -> Variant:
    variant = Variant(entry=entry.name, item=item.label, action=entry.action.value, line=item.line,
                      knob=bound.knob.id if bound else None, stage=bound.stage if bound else None)
    where = located(entry.source, item.line, f"entry {entry.name!r}, item {item.label!r}")
    explicit = _explicit(entry, item, env)
    try:
        if explicit is not None:
            variant.recogniser, overrides = "explicit", dict(explicit)
        else:
            resolution = _resolve(entry, item, bound, env)
            variant.recogniser, variant.notes = resolution.recogniser, list(resolution.notes)
            variant.warnings += resolution.warnings
            overrides = _to_paths(resolution, bound, env)
            overrides = _relative_count(overrides, bound, declared, env, variant)
        _finish(variant, item, overrides, env)
    except (CompileError, ConfigError, UnsupportedValue) as e:
        variant.error = f"{where}: {e}"
    return variant


def _resolve(entry: PlanEntry, item: Item, bound: BoundKnob, env: _Env) -> Resolution:
    knob = bound.knob
    if entry.action is Action.REMOVE:
        if knob.removable is None:
            what = "it is a parameter" if knob.kind == "parameter" else "it has no removal in this recipe"
            raise CompileError(f"knob {knob.id!r} cannot be REMOVEd; {what}; use REPLACE with values")
        return Resolution(dict(knob.removable), "knob.remove")
    if entry.action is Action.ADD and item.raw is None:
        if knob.addable is None:
            raise CompileError(f"knob {knob.id!r} cannot be ADDed without items (nothing to enable);"
                               " list the values to add")
        return Resolution(dict(knob.addable), "knob.add")
    resolution = resolve_item(item, Context(bound, env.base, env.policy, entry.name), env.registry)
    if resolution is None:
        raise CompileError(f"cannot resolve replacement {item.label!r} for knob {knob.id}; known values:"
                           f" {', '.join(knob.examples) or knob.describe_params()}; or give an explicit override"
                           f" (--set '{entry.name}/{item.label}: path=value' or --variant-map FILE)")
    return resolution


def _to_paths(resolution: Resolution, bound: BoundKnob, env: _Env) -> dict[str, Any]:
    params = resolution.params
    if bound.knob.derive is not None:
        params = bound.knob.derive(dict(params), env.base, bound)
    out = {}
    for param, value in params.items():
        if param in bound.paths:
            out[bound.path(param)] = value
        elif "." in param:
            out[param] = value  # a full config path; validated when applied
        else:
            raise CompileError(f"{bound.knob.id} has no parameter {param!r} (stage {bound.stage});"
                               f" params: {bound.knob.describe_params()}")
    return out


def _relative_count(overrides: dict[str, Any], bound: BoundKnob, declared: str | None, env: _Env,
                    variant: Variant) -> dict[str, Any]:
    """A count given on the plan's own scale ("256 of (currently) 729") applied at the same ratio
    to this recipe's base (--counts relative); literal values are kept otherwise."""
    knob = bound.knob
    if (env.counts != "relative" or declared is None or not knob.relative_counts or knob.scalar is None
            or knob.current is None):
        return overrides
    path, ours = bound.path(knob.scalar), knob.current(env.base, bound)
    value = overrides.get(path)
    scaled = scale_count(value, declared, ours)
    if scaled is None:
        return overrides
    variant.notes.append(f"{knob.scalar} {value} on the plan's scale ({value / float(declared.replace(',', '')):.3g}x"
                         f" its {declared}) runs as {scaled} = {scaled / ours:.3g}x this recipe's {ours}, the nearest"
                         f" count with a 2-D token grid (--counts literal keeps {value})")
    variant.derived["plan_value"] = value
    return {**overrides, path: scaled}


def _finish(variant: Variant, item: Item, overrides: dict[str, Any], env: _Env) -> None:
    overrides = {path: _coerce(env.base.get(path), value) for path, value in overrides.items()}
    variant.overrides = overrides  # kept on failure too: the error row shows what was attempted
    view = env.base.apply(overrides)
    try:
        facts = budget(view)
    except ConfigError as e:  # token arithmetic failed: say which grid it ran on and how to change it
        vision = view.model_config().vision
        raise CompileError(f"{e} (native grid {vision.grid_side}x{vision.grid_side} = image_size {vision.image_size}"
                           f" / patch_size {vision.patch_size}; a larger grid: --base-set"
                           " model.vision.hf_config.image_size=N)") from None
    variant.tokens_per_frame = facts["facts"]["tokens_per_frame"]
    variant.derived = {**variant.derived, **facts["facts"]}
    variant.warnings += facts["warnings"]
    variant.run_id = view.config_hash()
    same_as_base = variant.run_id == env.base_hash
    variant.is_baseline = same_as_base or item.default_marked
    if item.default_marked and not same_as_base:
        variant.warnings.append("marked as the plan's default but differs from this recipe's base;"
                                " reported as the baseline row, not run")
    if variant.is_baseline:
        variant.run_id = env.base_hash
        variant.notes.append("equals the base recipe: no extra run; the baseline row stands for it")
        return
    variant.stages = stages_from(min((stage_of(p) for p in overrides), key=STAGES.index))


def _coerce(old: Any, new: Any) -> Any:
    """A scalar written for a list-valued path (e.g. V-NIAH frames) means a one-element list."""
    if isinstance(old, list) and not isinstance(new, list):
        return [new]
    return new


def _error(entry: PlanEntry, item: str | None, message: str) -> Variant:
    return Variant(entry=entry.name, item=item, action=entry.action.value, error=message, line=entry.line)
