"""Which knob an entry's ablated part names: weighted phrase scores plus an item cross-check.

The part is split into a head (what is ablated) and a tail (where: "in UniRes encoding
scheme", "during long context training", "between image encoder and language model"); head
matches count three times as much as tail matches, so "Pooling strategy in UniRes encoding
scheme" is about pooling, not the encoding. Knobs that reach the threshold get a bonus when
their recognisers understand the entry's items (+2 all, +1 some): that cross-check separates
parts whose words alone are ambiguous. A tie at the top is an ambiguity error; no knob above
the threshold means the part is unsupported for this recipe.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from longva.ablation.errors import CompileError
from longva.ablation.knobs import Knob
from longva.ablation.registry import KnobRegistry

THRESHOLD = 3
_HEAD_WEIGHT, _TAIL_WEIGHT = 3, 1
_SPLIT = re.compile(r"\s(?:in|within|inside|during|for|between|used|at|on|when|across|applied|via|of the)\s")
_CURRENTLY = re.compile(r"\(\s*(?:currently|current|default|now)\s*:?\s*(?:fixed at\s+|set to\s+)?(?P<value>[^)]*?)\s*\)", re.I)
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


def resolve_part(
    part: str,
    registry: KnobRegistry,
    understands: Callable[[Knob], tuple[int, int]] | None = None,
) -> PartMatch:
    """The knob `part` names; `understands(knob)` -> (items understood, items) for the bonus."""
    head, tail, current = normalise_part(part)
    scores = {kid: score_knob(k, head, tail) for kid, k in registry.knobs.items()}
    candidates = {kid: s for kid, s in scores.items() if s >= THRESHOLD}
    if not candidates:
        raise CompileError(f"unsupported for this recipe: ablated part {part!r} names none of its knobs;"
                           f" closest: {', '.join(_closest(head + ' ' + tail, registry.knobs.values()))};"
                           f" known knobs: {', '.join(sorted(registry.knobs))}")
    if understands is not None and len(candidates) > 1:
        for kid in candidates:
            understood, total = understands(registry.knobs[kid])
            candidates[kid] += 2 if total and understood == total else (1 if understood else 0)
    best = max(candidates.values())
    top = sorted(kid for kid, s in candidates.items() if s == best)
    if len(top) > 1:
        raise CompileError(f"ambiguous ablated part {part!r}: matches knobs {', '.join(top)} equally;"
                           f" disambiguate with --part '<entry>={top[0]}'")
    return PartMatch(registry.knobs[top[0]], best, current)


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
