"""The typed, lossless form of an ablation plan (AblationBench's `AblationSuggestion` list).

An entry is `{name, ablated_part, action, replacement, metrics}` exactly as the benchmark's
pydantic model; what the parsers add (file, line numbers, title, reasoning trace, warnings) is
provenance and is excluded from equality, so the markdown and JSONL forms of one plan compare
equal (`==` means "the same ablations").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from longva.ablation.errors import PlanError, located


class Action(StrEnum):
    """The only three actions AblationBench allows (a pydantic Literal there)."""

    REPLACE = "REPLACE"
    REMOVE = "REMOVE"
    ADD = "ADD"


ACTIONS = tuple(a.value for a in Action)


@dataclass
class PlanEntry:
    name: str
    ablated_part: str
    action: Action
    replacement: list[Any] | dict[str, Any] | None
    metrics: list[str]
    # Provenance (not compared): the file and the lines errors should point at.
    source: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)  # heading / record line
    part_line: int | None = field(default=None, compare=False)
    action_line: int | None = field(default=None, compare=False)
    metrics_line: int | None = field(default=None, compare=False)
    item_lines: list[int] | None = field(default=None, compare=False)  # per list item / dict key
    item_texts: list[str] | None = field(default=None, compare=False)  # list items as written (labels)

    def item_line(self, index: int) -> int | None:
        if self.item_lines and 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line

    def item_text(self, index: int) -> str | None:
        """The list item as the plan wrote it (`1e8`, not the parsed `100000000.0`)."""
        if self.item_texts and 0 <= index < len(self.item_texts):
            return self.item_texts[index]
        return None

    def to_record(self) -> dict[str, Any]:
        """The AblationSuggestion JSON object (what `<task>.jsonl` holds, one per line)."""
        record: dict[str, Any] = {
            "name": self.name,
            "ablated_part": self.ablated_part,
            "action": self.action.value,
        }
        if self.replacement is not None:
            record["replacement"] = self.replacement
        record["metrics"] = list(self.metrics)
        return record


@dataclass
class Plan:
    entries: list[PlanEntry]
    source: str | None = field(default=None, compare=False)
    format: str | None = field(default=None, compare=False)  # markdown | jsonl | json | yaml
    title: str | None = field(default=None, compare=False)  # "lm-planner/<model>/<paper>"
    planner: str | None = field(default=None, compare=False)
    model: str | None = field(default=None, compare=False)
    paper: str | None = field(default=None, compare=False)
    task_kind: str = field(default="unknown", compare=False)  # author | reviewer | unknown
    reasoning: str | None = field(default=None, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)

    def entry(self, name: str) -> PlanEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_records(self) -> list[dict[str, Any]]:
        return [e.to_record() for e in self.entries]

    def to_json(self) -> dict[str, Any]:
        """Everything `longva ablate parse --json` prints: metadata + records with line numbers."""
        return {
            "source": self.source,
            "format": self.format,
            "title": self.title,
            "planner": self.planner,
            "model": self.model,
            "paper": self.paper,
            "task_kind": self.task_kind,
            "warnings": list(self.warnings),
            "entries": [{**e.to_record(), "line": e.line} for e in self.entries],
        }


def parse_action(text: Any, source: str | None, line: int | None) -> Action:
    """The Action field's value -> Action; anything but the three names is an error.

    Only decoration is forgiven (bold markers, backticks, quotes, trailing punctuation, case);
    near-synonyms such as MODIFY are rejected because the benchmark never produces them and
    guessing would silently change what is executed.
    """
    raw = str(text).strip()
    word = raw.strip("*`'\" \t.:;,").upper()
    if word in ACTIONS:
        return Action(word)
    shown = raw.strip("*` \t") or "<empty>"
    raise PlanError(located(source, line, f"unknown action {shown!r}; expected REPLACE, REMOVE or ADD"))


def check_entries(entries: list[PlanEntry], source: str | None, warnings: list[str]) -> None:
    """Plan-level rules shared by all parsers (mutates `warnings`; raises PlanError)."""
    if not entries:
        raise PlanError(located(source, None, "no ablation entries found; expected '### <name>' entries"
                                " with Ablated Part / Action / Replacement / Metrics fields, or JSON records"))
    seen: dict[str, int | None] = {}
    for entry in entries:
        if entry.name in seen:
            raise PlanError(located(source, entry.line, f"duplicate entry name {entry.name!r} (first at line"
                                    f" {seen[entry.name]}); entry names must be unique"))
        seen[entry.name] = entry.line
        _check_entry(entry, warnings)


def _check_entry(entry: PlanEntry, warnings: list[str]) -> None:
    n_items = len(entry.replacement) if entry.replacement is not None else 0
    if entry.action is Action.REPLACE and n_items == 0:
        raise PlanError(located(entry.source, entry.action_line or entry.line,
                                f"entry {entry.name!r}: REPLACE needs at least one Replacement item"))
    if entry.action is Action.REMOVE and entry.replacement is not None:
        # The benchmark never does this; REMOVE means "the knob's removal", so items are ignored.
        warnings.append(located(entry.source, entry.action_line or entry.line,
                                f"entry {entry.name!r}: REMOVE with Replacement items; the items are ignored"))
        entry.replacement = None
        entry.item_lines = entry.item_texts = None
    if not entry.metrics:
        warnings.append(located(entry.source, entry.metrics_line or entry.line,
                                f"entry {entry.name!r} lists no metrics"))
