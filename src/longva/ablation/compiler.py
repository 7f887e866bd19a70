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

An item that names nothing beyond the knob's current value plus a vague qualifier ("UniRes
variant 1", "improved pooling") is refused as underspecified, never mapped to the baseline; an
explicit override can still give it a meaning.

Nothing raises on a bad entry: every problem becomes a variant with `error` set (one line with
file:line, saying what is missing: a capability of the recipe or a wording of the plan), so a dry
run shows all of them at once; `CompiledPlan.raise_if_unresolved()` is what refuses to run.

Recipe facts come from the registry's target (`target.Target`): which stages a change re-runs,
the facts a variant derives (tokens per frame, ...) and which papers the recipe reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from longva.ablation.errors import CompileError, UnknownMetricError, located
from longva.ablation.items import ExplicitOverrides, Item, entry_items
from longva.ablation.knobs import (
    BoundKnob,
    Context,
    Knob,
    Resolution,
    UnsupportedValue,
    bind,
    resolve_item,
    resolve_part,
    vague_qualifier,
)
from longva.ablation.plan import Action, Plan, PlanEntry
from longva.ablation.registry import Registry, ResolvedMetric
from longva.ablation.target import ConfigView
from longva.errors import ConfigError

BASELINE = "(baseline)"
# A plan about another model may give counts on its own scale and say so ("Number of image tokens
# (currently 729)"). `relative` runs each value at the same ratio to this recipe's base (256 of 729
# -> 3 of a base 9: the plan's "about a third of the tokens"); `literal` runs the number as written.
COUNT_POLICIES = ("relative", "literal")


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
    baseline: Variant
    variants: list[Variant]
    registry: Registry  # its metrics evaluate the runs, its target runs them
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
    base: ConfigView
    registry: Registry
    explicit: ExplicitOverrides
    skip_unknown_metrics: bool
    data_dir: str | None
    base_hash: str
    foreign_paper: str | None  # the plan's paper when it is not one the recipe reproduces
    counts: str = "relative"  # COUNT_POLICIES: how a count on the plan's own scale is applied

    @property
    def target(self) -> Any:
        return self.registry.target


def compile_plan(
    plan: Plan,
    registry: Registry,
    base: ConfigView,
    explicit: ExplicitOverrides | None = None,
    skip_unknown_metrics: bool = False,
    data_dir: str | None = None,
    counts: str = "relative",
) -> CompiledPlan:
    """Compile `plan` against `base` with what `registry` knows (its target must be set)."""
    if counts not in COUNT_POLICIES:
        raise CompileError(f"--counts {counts!r}: expected one of {', '.join(COUNT_POLICIES)}")
    if registry.target is None:
        raise CompileError("the ablation registry has no target recipe; register a recipe adapter first")
    env = _Env(base, registry, explicit or ExplicitOverrides(), skip_unknown_metrics, data_dir, base.config_hash(),
               _foreign_paper(plan, registry.target.papers), counts)
    items = {e.name: entry_items(e) for e in plan.entries}
    env.explicit.check_names({name: [i.label for i in its] for name, its in items.items()})
    variants = [v for entry in plan.entries for v in _compile_entry(entry, items[entry.name], env)]
    baseline = _baseline(plan, variants, env)
    _mark_duplicates(baseline, variants)
    return CompiledPlan(plan, base.origin, baseline, variants, registry, counts)


def _foreign_paper(plan: Plan, papers: tuple[str, ...]) -> str | None:
    """The plan's paper when it is about another paper than the recipe's (its entries get mapped)."""
    if plan.paper and not any(p in plan.paper.lower() for p in papers):
        return plan.paper
    return None


def _baseline(plan: Plan, variants: list[Variant], env: _Env) -> Variant:
    facts, warnings = env.target.facts(env.base)
    seen: dict[str, ResolvedMetric] = {}
    for v in variants:
        for m in v.metrics:
            seen.setdefault(m.label(), m)
    return Variant(
        entry=BASELINE, item="base recipe", action="BASELINE", is_baseline=True, stages=list(env.target.stages),
        tokens_per_frame=facts.get("tokens_per_frame"), derived=facts, warnings=warnings,
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
    if bound is not None:
        _name_what_is_missing(entry, bound, [v for v in out if v.item is not None and v.recogniser != "explicit"])
    return out


def _name_what_is_missing(entry: PlanEntry, bound: BoundKnob, variants: list[Variant]) -> None:
    """When the knob takes none of the entry's items, the recipe lacks what they name, or the part
    means another knob: say so on each item nothing recognised (not only "cannot resolve")."""
    if not variants or any(v.error is None for v in variants):
        return
    knob = bound.knob
    hint = (f"; no item of entry {entry.name!r} is a value {knob.id} ({knob.summary}) can take: this recipe"
            f" lacks what they name, or the part means another knob (--part '{entry.name}=<knob id>')")
    for v in variants:
        if v.error and f": cannot resolve replacement {v.item!r}" in v.error:
            v.error += hint


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
    metrics = env.registry.metrics
    resolved, unknown = [], []
    for name in entry.metrics:
        try:
            resolved.append(metrics.resolve(name, env.data_dir, env.skip_unknown_metrics))
        except UnknownMetricError:
            unknown.append(f"{name!r} (closest: {', '.join(metrics.closest(name))})")
    if not unknown:
        return resolved, []
    message = (f"entry {entry.name!r}: unknown metric{'s' if len(unknown) > 1 else ''} {'; '.join(unknown)};"
               f" known: {', '.join(sorted(metrics.specs))} (or --skip-unknown-metrics)")
    return resolved, [_error(entry, None, located(entry.source, entry.metrics_line or entry.line, message))]


def _bind_entry(entry: PlanEntry, items: list[Item], env: _Env) -> tuple[BoundKnob, list[str], str | None]:
    """The entry's knob, notes about the binding, and the part's declared "(currently X)"."""
    text = f"{entry.ablated_part} {entry.name}"
    chosen = env.explicit.part_for(entry.name)
    if chosen is not None:
        knob_id, stage = chosen
        bound = bind(env.registry.knob(knob_id), text, env.registry.stage_qualifiers, stage,
                     shown=entry.ablated_part)
        return bound, [*bound.notes, f"knob {knob_id} chosen with --part"], None
    match = resolve_part(entry.ablated_part, env.registry.knobs, lambda knob: _understood(knob, text, items, env))
    bound = bind(match.knob, text, env.registry.stage_qualifiers, shown=entry.ablated_part)
    notes = list(bound.notes)
    if env.foreign_paper and not bound.knob.equivalence:
        notes.append(f"applied as this recipe's {bound.knob.id}: {bound.knob.summary}")
    if match.declared_current is not None:
        notes += _current_notes(match.declared_current, bound, env)
    return bound, notes, match.declared_current


def _understood(knob: Knob, text: str, items: list[Item], env: _Env) -> tuple[int, int]:
    """How many items the knob's recognisers understand (the part-resolution cross-check)."""
    try:
        bound = bind(knob, text, env.registry.stage_qualifiers)
    except CompileError:
        return 0, len(items)
    count = 0
    for item in items:
        try:
            count += resolve_item(item, Context(bound, env.base), env.registry.chain(knob.id)) is not None
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
        _finish(variant, item, overrides, env, vague=None if explicit is not None else vague_qualifier(item.text))
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
    resolution = resolve_item(item, Context(bound, env.base, entry.name), env.registry.chain(knob.id))
    if resolution is None:
        vague = vague_qualifier(item.text)
        why = (f"; underspecified: say what differs ({vague!r} names no value of {knob.id})" if vague else "")
        raise CompileError(f"cannot resolve replacement {item.label!r} for knob {knob.id}; known values:"
                           f" {', '.join(knob.examples) or knob.describe_params()}; or give an explicit override"
                           f" (--set '{entry.name}/{item.label}: path=value' or --variant-map FILE){why}")
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


def scale_count(value: Any, declared: str | None, ours: Any, round_count: Callable[[float], int]) -> int | None:
    """`value` on the plan's scale (whose base is `declared`) at the same ratio to `ours`, rounded
    by `round_count`; None when there is nothing to scale (no numeric declared base, or the two
    bases agree)."""
    try:
        theirs = float(str(declared).replace(",", ""))
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(ours, (int, float)):
        return None
    if theirs <= 0 or theirs == ours:
        return None
    return round_count(value * ours / theirs)


def _relative_count(overrides: dict[str, Any], bound: BoundKnob, declared: str | None, env: _Env,
                    variant: Variant) -> dict[str, Any]:
    """A count given on the plan's own scale ("256 of (currently) 729") applied at the same ratio
    to this recipe's base (--counts relative); literal values are kept otherwise."""
    knob, scaling = bound.knob, bound.knob.relative_counts
    if (env.counts != "relative" or declared is None or scaling is None or knob.scalar is None
            or knob.current is None):
        return overrides
    path, ours = bound.path(knob.scalar), knob.current(env.base, bound)
    value = overrides.get(path)
    scaled = scale_count(value, declared, ours, scaling.round)
    if scaled is None:
        return overrides
    ratio = value / float(declared.replace(",", ""))
    variant.notes.append(f"{knob.scalar} {value} on the plan's scale ({ratio:.3g}x its {declared}) runs as"
                         f" {scaled} = {scaled / ours:.3g}x this recipe's {ours}, {scaling.rule}"
                         f" (--counts literal keeps {value})")
    variant.derived["plan_value"] = value
    return {**overrides, path: scaled}


def _finish(variant: Variant, item: Item, overrides: dict[str, Any], env: _Env, vague: str | None) -> None:
    overrides = {path: _coerce(env.base.get(path), value) for path, value in overrides.items()}
    variant.overrides = overrides  # kept on failure too: the error row shows what was attempted
    view = env.base.apply(overrides)
    facts, warnings = env.target.facts(view)
    variant.tokens_per_frame = facts.get("tokens_per_frame")
    variant.derived = {**variant.derived, **facts}
    variant.warnings += warnings
    variant.run_id = view.config_hash()
    same_as_base = variant.run_id == env.base_hash
    if vague and not item.default_marked:
        _check_specified(variant, item, vague, same_as_base)
    variant.is_baseline = same_as_base or item.default_marked
    if item.default_marked and not same_as_base:
        variant.warnings.append("marked as the plan's default but differs from this recipe's base;"
                                " reported as the baseline row, not run")
    if variant.is_baseline:
        variant.run_id = env.base_hash
        variant.notes.append("equals the base recipe: no extra run; the baseline row stands for it")
        return
    variant.stages = env.target.stages_rerun(overrides)


def _check_specified(variant: Variant, item: Item, vague: str, same_as_base: bool) -> None:
    """An item whose words name only the current value plus a vague qualifier is refused; one that
    names another value runs that value, and says the qualifier was not applied."""
    shown = ", ".join(f"{k}={v!r}" for k, v in variant.overrides.items()) or "nothing"
    if same_as_base:
        raise CompileError(f"underspecified: say what differs; {item.label!r} names only this recipe's current"
                           f" value ({shown}) plus {vague!r}; name the value that differs or give an explicit"
                           f" override (--set '{variant.entry}/{item.label}: path=value' or --variant-map FILE)")
    variant.warnings.append(f"{vague!r} says that something differs without saying what; it is not applied:"
                            f" the run sets {shown}")


def _coerce(old: Any, new: Any) -> Any:
    """A scalar written for a list-valued path (e.g. evaluation frame counts) means a one-element list."""
    if isinstance(old, list) and not isinstance(new, list):
        return [new]
    return new


def _error(entry: PlanEntry, item: str | None, message: str) -> Variant:
    return Variant(entry=entry.name, item=item, action=entry.action.value, error=message, line=entry.line)
