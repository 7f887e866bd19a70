"""The typed, lossless form of an ablation plan (AblationBench's `AblationSuggestion` list), and
the text rules its fields follow (section `plan_text`: decoding, mojibake, splitting, literals).

An entry is `{name, ablated_part, action, replacement, metrics}` exactly as the benchmark's
pydantic model; what the parsers add (file, line numbers, title, reasoning trace, warnings) is
provenance and is excluded from equality, so the markdown and JSONL forms of one plan compare
equal (`==` means "the same ablations").
"""

from __future__ import annotations

import ast
import re
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


# ---- plan_text ------------------------------------------------------------------------------------
# Text helpers shared by the plan parsers: decoding, mojibake repair, splitting, literals.
#
# Mojibake: the seed plans are UTF-8 files whose emoji were once decoded as cp1252 and saved
# again (`🧠` -> `ðŸ§ `). Encoding back to cp1252 and decoding as UTF-8 undoes that exactly, but
# cp1252 cannot encode everything (real non-Latin text, or the five bytes cp1252 leaves undefined),
# so the repair falls back to fixing each suspicious run separately and leaves a run alone when
# it does not round-trip.


_MOJIBAKE_MARKERS = ("ðŸ", "Ã", "â€")
# Characters a cp1252 decode can produce from bytes 0x80-0xFF (plus C1 controls, which some
# decoders emit for the five undefined bytes).
_CP1252_HIGH = "".join(bytes([b]).decode("cp1252", errors="ignore") for b in range(0x80, 0x100))
_RUN = re.compile("[" + re.escape(_CP1252_HIGH) + "\u0080-\u009f]+")


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM tolerated); a file that is not UTF-8 is read as cp1252 (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def repair_mojibake(text: str) -> str:
    """Undo a UTF-8 -> cp1252 mis-decoding when the text shows its typical markers."""
    if not any(m in text for m in _MOJIBAKE_MARKERS):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return _RUN.sub(_repair_run, text)


def _repair_run(match: re.Match) -> str:
    run = match.group(0)
    try:
        raw = b"".join(_cp1252_byte(c) for c in run)
        return raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return run


def _cp1252_byte(char: str) -> bytes:
    if 0x80 <= ord(char) <= 0x9F:  # C1 control standing for an undefined cp1252 byte
        return bytes([ord(char)])
    return char.encode("cp1252")


_OPEN, _CLOSE = "([{", ")]}"


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside (), [] and {} (unbalanced closers are tolerated); pieces stripped."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char == sep and depth == 0:
            pieces.append(text[start:i].strip())
            start = i + 1
    pieces.append(text[start:].strip())
    return pieces


# A fragment that is only a unit or symbol cannot be a metric on its own: the ", ".join that
# rendered the metrics line split a name like "Success, %" and the fragment belongs to the
# previous metric.
_UNIT_ONLY = re.compile(r"^(?:%|\(%\)|[↑↓]|\((?:mm|cm|m|s|ms|sec|px|db|dB|%)\)|mm|cm|ms|px|dB|db|sec)$")


def split_metrics(line: str) -> list[str]:
    """A rendered metrics line -> metric names (paren-aware; unit fragments re-joined; de-duplicated)."""
    merged: list[str] = []
    for piece in split_top_level(line):
        if not piece:
            continue
        if merged and _UNIT_ONLY.match(piece):
            merged[-1] = f"{merged[-1]}, {piece}"
        else:
            merged.append(piece)
    out: list[str] = []
    for name in merged:
        if name not in out:
            out.append(name)
    return out


_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


def literal_item(text: str) -> Any:
    """Undo the renderer's `str(item)`: numbers, lists and dicts come back as Python values.

    Everything else stays the original string: `True`/`None` (too likely to be words), sets
    such as `{sin, cos, tan}` (not a literal) and `{1, 2}` (a set cannot come from JSON, so the
    plan wrote it as text).
    """
    stripped = text.strip()
    if _NUMBER.match(stripped):
        return int(stripped) if re.fullmatch(r"[-+]?\d+", stripped) else float(stripped)
    if stripped[:1] in "[{" and stripped[-1:] in "]}":
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(value, (list, dict)):
            return value
    return text
