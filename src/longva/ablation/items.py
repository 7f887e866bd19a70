"""What a plan says a variant sets: replacement items, normalised once before any recogniser
looks at them, and the explicit overrides that beat the recognisers (section `overrides`).

An `Item` keeps the plan's raw value (provenance) and adds what recognisers need: lowercase
text without "(default)"-style markers, the parsed number (+ unit), `k=v` assignments, a Python
value (dict/list) and any inline explicit override `{{path=value}}`.

Expansion: a dict replacement `{key: [v1, v2], key2: [...]}` (also its rendered `key: [..]`
lines) is a set of one-factor sweeps: one item per value, other keys at base. A dict *inside*
the list (`{'s': 1, 'r': 1}`) is one item that sets several keys together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longva.ablation.errors import CompileError
from longva.ablation.plan import PlanEntry, literal_item, split_top_level
from longva.utils.dataclass_config import parse_scalar, read_mapping

_DEFAULT_MARK = re.compile(
    r"\s*[(\[]\s*(?:default|baseline|original|current|currently used|ours|proposed|base)\s*[)\]]\s*", re.I
)
_INLINE = re.compile(r"\{\{(?P<body>.*?)\}\}")
_KEY_LIST = re.compile(r"^(?P<key>[^\[\]{}=]+?):\s*(?P<values>\[.*\])$")
_NUMBER = re.compile(
    r"^(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)"
    r"(?:\s*(?:\^|\*\*)\s*(?P<exp>[-+]?\d+))?"
    r"\s*(?P<mult>[kKMBG](?![a-zA-Z]))?\s*(?P<unit>[a-zA-Z%×][\w\s%/-]*)?$"
)
_MULT = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9}


@dataclass(frozen=True)
class Item:
    label: str  # as shown in tables and matched by explicit overrides
    raw: Any  # the plan's value
    text: str = ""  # lowercase, markers and inline overrides removed
    value: Any = None  # dict / list when the item is a Python literal
    number: float | int | None = None
    unit: str | None = None
    assignments: dict[str, Any] | None = None  # from "k=v" / "a=1,b=2"
    default_marked: bool = False
    inline: dict[str, Any] = field(default_factory=dict)  # {{path=value}} explicit overrides
    line: int | None = None


def entry_items(entry: PlanEntry) -> list[Item]:
    """All items of an entry, with dict replacements expanded to one-factor sweeps."""
    replacement = entry.replacement
    if replacement is None:
        return []
    if isinstance(replacement, dict):
        return _sweep(replacement, entry.item_lines or [])
    items: list[Item] = []
    for index, raw in enumerate(replacement):
        line = entry.item_line(index)
        key_list = _KEY_LIST.match(raw.strip()) if isinstance(raw, str) else None
        values = literal_item(key_list.group("values")) if key_list else None
        if isinstance(values, list):  # a lone "key: [..]" line among plain items
            items += _sweep({key_list.group("key").strip(): values}, [line])
        else:
            items.append(make_item(raw, line, entry.item_text(index)))
    return items


def _sweep(mapping: dict[str, Any], lines: list[int]) -> list[Item]:
    items = []
    for index, (key, values) in enumerate(mapping.items()):
        line = lines[index] if index < len(lines) else (lines[-1] if lines else None)
        for value in values if isinstance(values, list) else [values]:
            items.append(Item(label=f"{key}={value}", raw={key: value}, text=f"{key}={value}".lower(),
                              value={key: value}, assignments={key: value}, line=line))
    return items


def make_item(raw: Any, line: int | None = None, written: str | None = None) -> Item:
    """An Item from a replacement value; `written` is the plan's own spelling, used as the label."""
    label = written.strip() if written else str(raw)
    if isinstance(raw, bool) or raw is None:
        return Item(label=label, raw=raw, text=str(raw).lower(), line=line)
    if isinstance(raw, (int, float)):
        return Item(label=label, raw=raw, text=str(raw), number=raw, line=line)
    if isinstance(raw, (dict, list)):
        return Item(label=label, raw=raw, text=str(raw).lower(), value=raw, line=line)
    return _text_item(str(raw), line)


def _text_item(raw: str, line: int | None) -> Item:
    inline: dict[str, Any] = {}
    for m in _INLINE.finditer(raw):
        inline.update(parse_assignments(m.group("body")) or {})
    text = _INLINE.sub(" ", raw)
    marked = bool(_DEFAULT_MARK.search(text))
    text = " ".join(_DEFAULT_MARK.sub(" ", text).split())
    value = literal_item(text)
    number = unit = None
    if (parsed := parse_number(text)) is not None:
        number, unit = parsed
    return Item(
        label=raw.strip(),
        raw=raw,
        text=text.lower(),
        value=value if isinstance(value, (dict, list)) else None,
        number=number,
        unit=unit,
        assignments=parse_assignments(text),
        default_marked=marked,
        inline=inline,
        line=line,
    )


def parse_number(text: str) -> tuple[float | int, str | None] | None:
    """`256`, `1e-4`, `1,000`, `10^9`, `3M`, `224K`, `150 samples`, `10%` -> (value, unit).

    K/M/B/G multiply by 10^3/10^6/10^9/10^9 (decimal: "224K" tokens = 224,000).
    """
    m = _NUMBER.match(text.strip())
    if m is None:
        return None
    value = float(m.group("num").replace(",", ""))
    if m.group("exp"):
        value = value ** int(m.group("exp"))
    if m.group("mult"):
        value *= _MULT[m.group("mult")]
    unit = (m.group("unit") or "").strip().lower() or None
    integral_literal = re.fullmatch(r"[-+]?[\d,]+", m.group("num")) is not None
    if value.is_integer() and (integral_literal or m.group("mult") or m.group("exp")):
        return int(value), unit
    return value, unit


def parse_assignments(text: str) -> dict[str, Any] | None:
    """`k=v`, `k = v`, `λ_RGB=5,λ_depth=15` -> {k: v}; None unless every piece is an assignment."""
    pieces = [p for p in split_top_level(text) if p]
    if not pieces:
        return None
    out: dict[str, Any] = {}
    for piece in pieces:
        key, sep, value = piece.partition("=")
        if not sep or not key.strip() or value.startswith("=") or key.rstrip().endswith(("<", ">", "!")):
            return None
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_value(text: str) -> Any:
    """A value written in a plan or on the command line: YAML scalars/lists, numbers with K/M/B."""
    parsed = parse_number(text)
    if parsed is not None and parsed[1] is None:
        return parsed[0]
    value = parse_scalar(text)
    return value.strip() if isinstance(value, str) else value


# ---- overrides ------------------------------------------------------------------------------------
# Explicit overrides: the user's word always beats the recognisers, and is never guessed.
#
# Three ways to give them, merged in this order (later wins):
# - a variant map file (`--variant-map FILE`, YAML or JSON):
#
#       "Pooling Strategy Ablation":
#         _part: my.pooling                    # optional: which knob the part names
#         "average pooling with kernel size 3": {pool.kind: avg, pool.kernel: 3}
#         "": {pool.kind: none}                # entry-level: REMOVE / ADD without items
#
# - `--set "Entry/Item: key=val,key=val"` (`--set "Entry: key=val"` for the entry-level variant);
# - `--part "Entry=knob.id"` or `"Entry=knob.id@stage"`;
# - inline in an item: `max pooling {{pool.kind=max}}`.
#
# Names are matched case- and whitespace-insensitively; names that match nothing in the plan are
# errors (a typo must not silently fall back to guessing). Config paths are validated by the
# compiler against the recipe, with close names on a typo.


def norm_name(text: str) -> str:
    return " ".join(str(text).lower().split())


@dataclass
class ExplicitOverrides:
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # entry -> item -> {path: v}
    parts: dict[str, str] = field(default_factory=dict)  # entry -> "knob.id" / "knob.id@stage"

    def add_item(self, entry: str, item: str, overrides: dict[str, Any]) -> None:
        self.items.setdefault(norm_name(entry), {}).setdefault(norm_name(item), {}).update(overrides)

    def add_part(self, entry: str, knob: str) -> None:
        self.parts[norm_name(entry)] = knob.strip()

    def for_item(self, entry: str, item: str) -> dict[str, Any] | None:
        return self.items.get(norm_name(entry), {}).get(norm_name(item))

    def part_for(self, entry: str) -> tuple[str, str | None] | None:
        spec = self.parts.get(norm_name(entry))
        if spec is None:
            return None
        knob, _, stage = spec.partition("@")
        return knob.strip(), (stage.strip() or None)

    def check_names(self, items_by_entry: dict[str, list[str]]) -> None:
        """Every entry/item named here must exist in the plan (labels as the compiler shows them)."""
        entries = {norm_name(e): e for e in items_by_entry}
        for entry in [*self.items, *self.parts]:
            if entry not in entries:
                raise CompileError(f"explicit override names entry {entry!r}, which is not in the plan;"
                                   f" entries: {', '.join(map(repr, items_by_entry))}")
        for entry, items in self.items.items():
            labels = {norm_name(label) for label in items_by_entry[entries[entry]]} | {""}
            for item in items:
                if item not in labels:
                    known = ", ".join(repr(label) for label in items_by_entry[entries[entry]]) or "none (use '')"
                    raise CompileError(f"explicit override names item {item!r} of entry {entries[entry]!r},"
                                       f" which has no such item; items: {known}")


def load_variant_map(path: str | Path, into: ExplicitOverrides | None = None) -> ExplicitOverrides:
    out = into or ExplicitOverrides()
    data = read_mapping(path)
    for entry, items in data.items():
        if not isinstance(items, dict):
            raise CompileError(f"variant map {str(path)!r}: entry {entry!r} must map item -> overrides")
        for item, overrides in items.items():
            if item == "_part":
                out.add_part(str(entry), str(overrides))
                continue
            if isinstance(overrides, str):
                overrides = parse_assignments(overrides)
            if not isinstance(overrides, dict) or not overrides:
                raise CompileError(f"variant map {str(path)!r}: {entry!r}/{item!r} must be a mapping of"
                                   " config path -> value (or 'path=value,path=value')")
            out.add_item(str(entry), "" if item is None else str(item), overrides)
    return out


def parse_set(spec: str, entry_names: list[str]) -> tuple[str, str, dict[str, Any]]:
    """`Entry/Item: key=val,key=val` -> (entry, item, overrides); names may contain '/' or ':'."""
    for pos in reversed([i for i, ch in enumerate(spec) if ch == ":"]):
        overrides = parse_assignments(spec[pos + 1:].strip())
        if overrides:
            entry, item = _split_target(spec[:pos].strip(), entry_names)
            return entry, item, overrides
    raise CompileError(f"--set {spec!r}: expected 'Entry/Item: key=value[,key=value]'")


def _split_target(target: str, entry_names: list[str]) -> tuple[str, str]:
    for name in sorted(entry_names, key=len, reverse=True):
        if norm_name(target) == norm_name(name):
            return name, ""
        if norm_name(target).startswith(norm_name(name) + "/"):
            return name, target[len(name) + 1:].strip()
    entry, _, item = target.partition("/")
    return entry.strip(), item.strip()


def parse_part(spec: str) -> tuple[str, str]:
    """`Entry=knob.id[@stage]` -> (entry, knob spec)."""
    entry, sep, knob = spec.rpartition("=")
    if not sep or not entry.strip() or not knob.strip():
        raise CompileError(f"--part {spec!r}: expected 'Entry name=knob.id' or 'Entry name=knob.id@stage'")
    return entry.strip(), knob.strip()
