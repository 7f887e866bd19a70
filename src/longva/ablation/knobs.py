"""Knobs: the ablatable design choices of a recipe, which knob a plan's ablated part names, and the
value recognisers that turn one replacement item into knob params (section `recognisers`).

A knob declares named params mapped to config paths, the phrases that name it (weighted regexes
over the ablated-part text), param aliases (`k`, `kernel size` -> `kernel`), what a bare number
sets, and its REMOVE / ADD semantics. Per-stage knobs (an LR schedule, ...) use `{stage}` in
their paths; the stage comes from qualifiers in the part text (the recipe registers them, e.g.
"during long context training" -> its long-context stage), else from the knob's default stage,
else it is an ambiguity error.

Part resolution: the part is split into a head (what is ablated) and a tail (where: "in UniRes
encoding scheme", "during long context training", "between image encoder and language model");
head matches count three times as much as tail matches, so "Pooling strategy in UniRes encoding
scheme" is about pooling, not the encoding. Knobs that reach the threshold get a bonus when their
recognisers understand the entry's items (+2 all, +1 some): that cross-check separates parts whose
words alone are ambiguous. A tie at the top is an ambiguity error; no knob above the threshold
means the part is unsupported by the recipe.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from longva.ablation.errors import CompileError
from longva.ablation.items import Item
from longva.ablation.target import ConfigView

# Param -> dotted path, or param -> {stage: path} when the path differs per stage.
ParamPaths = Mapping[str, str | Mapping[str, str]]
# (stage, regex over the lowercase part text, note shown when it matches or None); first match wins
StageQualifier = tuple[str, str, str | None]


@dataclass(frozen=True)
class CountScaling:
    """How a count a plan gives on another model's scale ("256 (currently 729)") maps onto this
    recipe's (`--counts relative`): v runs as round(v * ours / theirs)."""

    round: Callable[[float], int]  # the scaled value -> a count the recipe can run
    rule: str  # how `round` chooses, for the variant's note


@dataclass(frozen=True)
class Knob:
    id: str
    summary: str  # one line, shown in "known knobs" lists
    params: ParamPaths
    patterns: Sequence[tuple[str, int]]  # (regex over the normalised part text, weight 1..3)
    exclude: Sequence[str] = ()  # a match in the part's head rules the knob out
    aliases: Mapping[str, str] = field(default_factory=dict)  # normalised alias -> param
    scalar: str | None = None  # the param a bare number sets
    units: Sequence[str] = ()  # units a bare number may carry ("frames", "tokens")
    kind: str = "parameter"  # "component" (can be removed/added) or "parameter"
    removable: Mapping[str, Any] | None = None  # REMOVE: param -> value
    addable: Mapping[str, Any] | None = None  # ADD without items: param -> value
    stages: Sequence[str] = ()  # stages a `{stage}` path may take
    default_stage: str | None = None  # None + no qualifier = ambiguity error
    examples: Sequence[str] = ()  # known values, listed when an item cannot be resolved
    equivalence: str | None = None  # how a plan about another paper maps onto this knob
    # Completes a resolution with dependent overrides (e.g. frozen -> tunable_parts).
    derive: Callable[[dict[str, Any], ConfigView, BoundKnob], dict[str, Any]] | None = None
    # Effective base value of the scalar param, to cross-check "(currently X)" in the part.
    current: Callable[[ConfigView, BoundKnob], Any] | None = None
    # The scalar is a count a plan for another model may give on its own scale: with --counts
    # relative and a declared "(currently X)", a value v runs at the same ratio to ours.
    relative_counts: CountScaling | None = None

    def param_for(self, key: str) -> str | None:
        """Param named by `key` (a param, an alias, or an alias ending a longer phrase)."""
        norm = _norm_key(key)
        names = {_norm_key(p): p for p in self.params}
        names.update({_norm_key(a): p for a, p in self.aliases.items()})
        if norm in names:
            return names[norm]
        for alias in sorted(names, key=len, reverse=True):  # "AMIS iteration count T" -> "t"
            if re.search(rf"(?:^|\s){re.escape(alias)}$", norm):
                return names[alias]
        return None

    def describe_params(self) -> str:
        aliases = {p: [a for a, q in self.aliases.items() if q == p] for p in self.params}
        return ", ".join(f"{p} ({'/'.join(a)})" if a else p for p, a in aliases.items())


@dataclass(frozen=True)
class BoundKnob:
    """A knob with its stage chosen: every param has one concrete dotted path."""

    knob: Knob
    stage: str | None
    paths: Mapping[str, str]
    notes: tuple[str, ...] = ()

    def path(self, param: str) -> str:
        return self.paths[param]


def _norm_key(key: str) -> str:
    return " ".join(str(key).lower().replace("_", " ").replace("-", " ").split())


def names_knob(text: str, knob: Knob) -> bool:
    """Whether `text` is a phrase that names `knob` (any of its part patterns matches)."""
    return any(re.search(pattern, text) for pattern, _ in knob.patterns)


# ---- binding a knob to a stage ------------------------------------------------------------------


def stage_from_text(text: str, allowed: Sequence[str],
                    qualifiers: Sequence[StageQualifier]) -> tuple[str | None, str | None]:
    """(stage, note) named by qualifiers in `text`, restricted to `allowed` stages."""
    lowered = text.lower()
    for stage, pattern, note in qualifiers:
        if stage in allowed and re.search(pattern, lowered):
            return stage, note
    return None, None


def bind(knob: Knob, text: str, qualifiers: Sequence[StageQualifier] = (), stage: str | None = None,
         shown: str | None = None) -> BoundKnob:
    """Choose the knob's stage (explicit > qualifier in `text` > default) and its paths.

    `shown` is the part text quoted in errors (defaults to `text`)."""
    notes: list[str] = []
    if knob.stages:
        if stage is None:
            stage, note = stage_from_text(text, knob.stages, qualifiers)
            if note:
                notes.append(note)
        if stage is None and knob.default_stage:
            stage = knob.default_stage
            notes.append(f"no stage named; using {stage} (the default for {knob.id})")
        if stage is None:
            raise CompileError(f"part {shown or text!r} names {knob.id} but not which stage; stages with one:"
                               f" {', '.join(knob.stages)}; name it in the part ('during long context"
                               f" training') or use --part '<entry>={knob.id}@<stage>'")
        if stage not in knob.stages:
            raise CompileError(f"{knob.id} has no stage {stage!r}; expected one of {', '.join(knob.stages)}")
    paths = {}
    for param, path in knob.params.items():
        if isinstance(path, Mapping):
            if stage in path:
                paths[param] = path[stage]
        else:
            paths[param] = path.format(stage=stage) if "{stage}" in path else path
    return BoundKnob(knob, stage, paths, tuple(notes))


# ---- which knob a part names --------------------------------------------------------------------

THRESHOLD = 3
_HEAD_WEIGHT, _TAIL_WEIGHT = 3, 1
_SPLIT = re.compile(r"\s(?:in|within|inside|during|for|between|used|at|on|when|across|applied|via|of the)\s")
_CURRENTLY = re.compile(
    r"\(\s*(?:currently|current|default|now)\s*:?\s*(?:fixed at\s+|set to\s+)?(?P<value>[^)]*?)\s*\)", re.I
)
_PARENS = re.compile(r"\([^)]*\)")


@dataclass(frozen=True)
class PartMatch:
    knob: Knob
    score: int
    declared_current: str | None  # "729" from "(currently 729)"


def normalise_part(text: str) -> tuple[str, str, str | None]:
    """(head, tail, declared current value) of an ablated-part text."""
    current = _CURRENTLY.search(text)
    lowered = _PARENS.sub(" ", text.lower())
    lowered = " ".join(re.sub(r"[\"'`*]", " ", lowered).split())
    parts = _SPLIT.split(f" {lowered} ", maxsplit=1)
    head = parts[0].strip()
    tail = parts[1].strip() if len(parts) > 1 else ""
    return head, tail, current.group("value").strip() if current else None


def score_knob(knob: Knob, head: str, tail: str) -> int:
    """Weighted phrase score; 0 unless a pattern of weight >= 2 matches (weak words such as
    'kernel' or 'mlp' only support a knob that is named otherwise)."""
    if any(re.search(pattern, head) for pattern in knob.exclude):
        return 0
    score, named = 0, False
    for pattern, weight in knob.patterns:
        factor = _HEAD_WEIGHT if re.search(pattern, head) else (_TAIL_WEIGHT if re.search(pattern, tail) else 0)
        score += weight * factor
        named = named or (factor > 0 and weight >= 2)
    return score if named else 0


def resolve_part(part: str, knobs: Mapping[str, Knob],
                 understands: Callable[[Knob], tuple[int, int]] | None = None) -> PartMatch:
    """The knob `part` names; `understands(knob)` -> (items understood, items) for the bonus."""
    head, tail, current = normalise_part(part)
    scores = {kid: score_knob(k, head, tail) for kid, k in knobs.items()}
    candidates = {kid: s for kid, s in scores.items() if s >= THRESHOLD}
    if not candidates:
        raise CompileError(f"unsupported for this recipe: ablated part {part!r} names none of its knobs"
                           f" (missing: a knob for {head!r});"
                           f" closest: {', '.join(_closest(head + ' ' + tail, knobs.values()))};"
                           f" known knobs: {', '.join(sorted(knobs))}")
    if understands is not None and len(candidates) > 1:
        for kid in candidates:
            understood, total = understands(knobs[kid])
            candidates[kid] += 2 if total and understood == total else (1 if understood else 0)
    best = max(candidates.values())
    top = sorted(kid for kid, s in candidates.items() if s == best)
    if len(top) > 1:
        raise CompileError(f"ambiguous ablated part {part!r}: matches knobs {', '.join(top)} equally;"
                           f" disambiguate with --part '<entry>={top[0]}'")
    return PartMatch(knobs[top[0]], best, current)


def _closest(text: str, knobs: Iterable[Knob]) -> list[str]:
    """Knob ids whose summaries share the most words with `text` (difflib as tie-breaker)."""
    words = set(re.findall(r"[a-z]{3,}", text))
    ranked = []
    for knob in knobs:
        summary_words = set(re.findall(r"[a-z]{3,}", f"{knob.id} {knob.summary}".lower()))
        overlap = len(words & summary_words)
        ratio = difflib.SequenceMatcher(None, text, knob.summary.lower()).ratio()
        ranked.append((overlap, ratio, knob.id))
    ranked.sort(reverse=True)
    return [kid for _, _, kid in ranked[:3]]


# ---- recognisers ----------------------------------------------------------------------------------
# Value recognisers: one replacement item -> knob param overrides (+ notes, derived facts).
#
# `resolve_item` tries, in order, and the first that answers wins:
# 1. structure: a dict literal (`{'s': 1, 'r': 1}`) or assignments (`λ_RGB=5,λ_depth=15`) set
#    the named params together (names through the knob's aliases, or full config paths);
# 2. the knob's own recognisers (registered with `@recogniser(knob_id, name)`), in order;
# 3. removal phrasing (`no X`, `without X`, `w/o X`, `remove X`, `disable X`, `zero X`,
#    `identity`, `none`) when X names this knob -> the knob's REMOVE semantics;
# 4. a bare number (optionally with one of the knob's units) -> the knob's scalar param;
# 5. a list -> the scalar param (list-valued params such as evaluation frame counts).
#
# A recogniser returns None when the phrase is not its business, and raises `UnsupportedValue`
# when it knows the phrase but this recipe cannot run it (the message says why and what works).
#
# Vague qualifiers ("variant 1", "improved", "alternative", "version 2") say that something differs
# without saying what: `vague_qualifier` finds them, and the compiler refuses an item whose words
# name nothing beyond the knob's current value plus such a qualifier.


@dataclass
class Resolution:
    params: dict[str, Any]  # knob param (or full dotted path) -> value
    recogniser: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class UnsupportedValue(Exception):
    """The phrase is understood but cannot be executed with this recipe (message: why + options)."""


@dataclass(frozen=True)
class Context:
    bound: BoundKnob
    base: ConfigView
    entry: str = ""

    @property
    def knob(self) -> Knob:
        return self.bound.knob

    def base_value(self, param: str) -> Any:
        return self.base.get(self.bound.path(param))


Recogniser = Callable[[Item, Context], Resolution | None]

_REMOVAL = re.compile(
    r"^(?:no|without|w/o|remove|removing|removed|disable|disabled|drop|zero|skip)\s+(?:the\s+)?(?P<obj>.+)$"
    r"|^(?:identity|none|off|disabled|removed)(?:\s+(?:function|mapping|layer))?$"
)
_VAGUE = re.compile(
    r"\b(?:variant|version|option|alternative|alt|improved|enhanced|modified|new|better|optimi[sz]ed|revised"
    r"|updated|custom|another|different|novel|advanced|refined|tweaked|adjusted)\b"
    r"(?:\s*(?:#?\d+|[a-h]|[ivx]+)(?![\w.-]))?|\bv\d+\b"
)


def vague_qualifier(text: str) -> str | None:
    """The vague qualifiers in `text` ("variant 1", "improved", ...), joined; None when there are none."""
    found = [m.group(0) for m in _VAGUE.finditer(text)]
    return " ".join(found) or None


def resolve_item(item: Item, ctx: Context, chain: list[tuple[str, Recogniser]]) -> Resolution | None:
    """The first answer of the generic structure recognisers, `chain` (the knob's own) and the
    generic fallbacks."""
    for _name, fn in [*_FIRST, *chain, *_LAST]:
        resolution = fn(item, ctx)
        if resolution is not None:
            return resolution
    return None


def map_keys(mapping: dict[str, Any], ctx: Context, recogniser: str) -> Resolution:
    """{key: value} -> params, keys through aliases or as full config paths; unknown keys fail."""
    params: dict[str, Any] = {}
    for key, value in mapping.items():
        param = ctx.knob.param_for(str(key))
        if param is None and "." in str(key) and ctx.base.has(str(key)):
            param = str(key)
        if param is None:
            raise UnsupportedValue(f"{key!r} is not a parameter of {ctx.knob.id}; params: {ctx.knob.describe_params()}")
        params[param] = value
    return Resolution(params, recogniser)


def _dict(item: Item, ctx: Context) -> Resolution | None:
    return map_keys(item.value, ctx, "generic.dict") if isinstance(item.value, dict) else None


def _assignments(item: Item, ctx: Context) -> Resolution | None:
    return map_keys(item.assignments, ctx, "generic.assign") if item.assignments else None


def _removal(item: Item, ctx: Context) -> Resolution | None:
    m = _REMOVAL.match(item.text)
    if m is None or (m.group("obj") and not names_knob(m.group("obj"), ctx.knob)):
        return None
    if ctx.knob.removable is None:
        raise UnsupportedValue(f"{ctx.knob.id} cannot be removed in this recipe; it is a {ctx.knob.kind}")
    return Resolution(dict(ctx.knob.removable), "generic.removal")


def _number(item: Item, ctx: Context) -> Resolution | None:
    if item.number is None or (item.unit and item.unit not in ctx.knob.units):
        return None
    if ctx.knob.scalar is None:
        first = next(iter(ctx.knob.params))
        raise UnsupportedValue(f"a bare number needs a parameter name: {ctx.knob.id} has params"
                               f" {ctx.knob.describe_params()}; write e.g. '{first}={item.number}'")
    return Resolution({ctx.knob.scalar: item.number}, "generic.number")


def _list(item: Item, ctx: Context) -> Resolution | None:
    if not isinstance(item.value, list) or ctx.knob.scalar is None:
        return None
    return Resolution({ctx.knob.scalar: item.value}, "generic.list")


_FIRST: list[tuple[str, Recogniser]] = [("generic.dict", _dict), ("generic.assign", _assignments)]
_LAST: list[tuple[str, Recogniser]] = [
    ("generic.removal", _removal),
    ("generic.number", _number),
    ("generic.list", _list),
]
