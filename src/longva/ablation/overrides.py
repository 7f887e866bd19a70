"""Explicit overrides: the user's word always beats the recognisers, and is never guessed.

Three ways to give them, merged in this order (later wins):
- a variant map file (`--variant-map FILE`, YAML or JSON):

      "Pooling Strategy Ablation":
        _part: my.pooling                    # optional: which knob the part names
        "average pooling with kernel size 3": {pool.kind: avg, pool.kernel: 3}
        "": {pool.kind: none}                # entry-level: REMOVE / ADD without items

- `--set "Entry/Item: key=val,key=val"` (`--set "Entry: key=val"` for the entry-level variant);
- `--part "Entry=knob.id"` or `"Entry=knob.id@stage"`;
- inline in an item: `max pooling {{pool.kind=max}}`.

Names are matched case- and whitespace-insensitively; names that match nothing in the plan are
errors (a typo must not silently fall back to guessing). Config paths are validated by the
compiler against the recipe, with close names on a typo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longva.ablation.errors import CompileError
from longva.ablation.items import parse_assignments
from longva.utils.dataclass_config import read_mapping


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
