"""Value recognisers: one replacement item -> knob param overrides (+ notes, derived facts).

`resolve_item` tries, in order, and the first that answers wins:
1. structure: a dict literal (`{'s': 1, 'r': 1}`) or assignments (`λ_RGB=5,λ_depth=15`) set
   the named params together (names through the knob's aliases, or full config paths);
2. the knob's own recognisers (registered with `@recogniser(knob_id, name)`), in order;
3. removal phrasing (`no X`, `without X`, `w/o X`, `remove X`, `disable X`, `zero X`,
   `identity`, `none`) when X names this knob -> the knob's REMOVE semantics;
4. a bare number (optionally with one of the knob's units) -> the knob's scalar param;
5. a list -> the scalar param (list-valued params such as evaluation frame counts).

A recogniser returns None when the phrase is not its business, and raises `UnsupportedValue`
when it knows the phrase but this recipe cannot run it (the message says why and what works).

Vague qualifiers ("variant 1", "improved", "alternative", "version 2") say that something differs
without saying what: `vague_qualifier` finds them, and the compiler refuses an item whose words
name nothing beyond the knob's current value plus such a qualifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from longva.ablation.items import Item
from longva.ablation.knobs import BoundKnob, Knob, names_knob
from longva.ablation.target import ConfigView


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
