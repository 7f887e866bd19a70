"""Knobs: the ablatable design choices of our recipe, and how a plan's part text binds to one.

A knob declares named params mapped to config paths, the phrases that name it (weighted
regexes over the ablated-part text), param aliases (`k`, `kernel size` -> `kernel`), what a
bare number sets, and its REMOVE / ADD semantics. Per-stage knobs (LR schedule, RoPE base,
context length, ...) use `{stage}` in their paths; the stage comes from qualifiers in the part
text ("during long context training" -> s1_long), else from the knob's default stage, else it
is an ambiguity error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from longva.ablation.errors import CompileError

if TYPE_CHECKING:
    from longva.ablation.recipe import RecipeView

# Param -> dotted path, or param -> {stage: path} when the path differs per stage.
ParamPaths = Mapping[str, str | Mapping[str, str]]


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
    baseline_words: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # "random" -> params
    examples: Sequence[str] = ()  # known values, listed when an item cannot be resolved
    inference_only_ok: bool = False  # parameter-free: could be evaluated without retraining
    equivalence: str | None = None  # how a plan about another paper maps onto this knob
    # Completes a resolution with dependent overrides (e.g. frozen -> tunable_parts).
    derive: Callable[[dict[str, Any], RecipeView, BoundKnob], dict[str, Any]] | None = None
    # Effective base value of the scalar param, to cross-check "(currently X)" in the part.
    current: Callable[[RecipeView, BoundKnob], Any] | None = None
    # The scalar is a count a plan for another model may give on its own scale: with --counts
    # relative and a declared "(currently X)", a value v runs as v * ours / X (rounded to the
    # nearest count with a 2-D token grid, `tokens.near_square_count`).
    relative_counts: bool = False

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


# Stage qualifiers, checked in this order (first match wins): the long-context stage is named
# most specifically, the alignment words are the broadest.
STAGE_QUALIFIERS: Sequence[tuple[str, str, str | None]] = (
    ("s1_long", r"\blong[- ]?context\b|\bcontext (?:extension|extrapolation)\b|\bs1_long\b", None),
    ("s0_text", r"\btext[- ]only\b|\btext (?:pre-?training|training|stage)\b|\bs0_text\b", None),
    ("s2_align", r"\balign(?:ment)?\b|\bs2_align\b", None),
    ("s2_align", r"\bfine[- ]?tun(?:e|ed|ing)\b|\binstruction[- ]tuning\b",
     "fine-tuning is this recipe's alignment stage s2_align"),
    ("s2_align", r"\bpre-?train(?:ing|ed)?\b",
     "the plan's pre-training is applied to this recipe's alignment stage s2_align"),
    ("eval", r"\b(?:inference|evaluation|eval|test[- ]time)\b", None),
)


def stage_from_text(text: str, allowed: Sequence[str]) -> tuple[str | None, str | None]:
    """(stage, note) named by qualifiers in `text`, restricted to `allowed` stages."""
    lowered = text.lower()
    for stage, pattern, note in STAGE_QUALIFIERS:
        if stage in allowed and re.search(pattern, lowered):
            return stage, note
    return None, None


def bind(knob: Knob, text: str, stage: str | None = None, shown: str | None = None) -> BoundKnob:
    """Choose the knob's stage (explicit > qualifier in `text` > default) and its paths.

    `shown` is the part text quoted in errors (defaults to `text`)."""
    notes: list[str] = []
    if knob.stages:
        if stage is None:
            stage, note = stage_from_text(text, knob.stages)
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
