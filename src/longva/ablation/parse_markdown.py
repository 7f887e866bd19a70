"""Parse the rendered markdown form of a plan (the AblationBench project-page trajectories).

Layout: optional `<style>` block, `# lm-planner/<model>/<paper>`, a "Reasoning Trace" div and an
"Ablation Plan" div holding `### <name>` entries with `- **Label**: value` fields. Sections are
found by their words ("Reasoning Trace", "Ablation Plan") on heading lines, never by the emoji,
which arrive mojibaked in some copies. Line numbers are those of the original file.

Replacement items are `  - item` lines below the field. They are rendered with `str(item)`, so
numbers, lists and dicts are turned back into values (`literal_item`), and a block made only of
`key: [v1, v2]` lines is the rendering of a dict replacement and becomes that dict again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from longva.ablation.errors import PlanError, located
from longva.ablation.plan import (
    Plan,
    PlanEntry,
    check_entries,
    literal_item,
    parse_action,
    split_metrics,
    split_top_level,
)

_H1 = re.compile(r"^\s{0,3}#\s+(?P<title>\S.*?)\s*$")
_SECTION = re.compile(r"^\s*(?:<h[1-6][^>]*>|#{1,6}\s)")  # a heading, HTML or markdown
_ENTRY = re.compile(r"^\s{0,3}#{2,4}\s+(?P<name>\S.*?)\s*#*\s*$")
_FIELD = re.compile(r"^(?P<indent>\s*)(?P<bullet>[-*+]\s+)?\*\*(?P<label>[^*]+?)\*\*\s*:?\s*(?P<rest>.*?)\s*$")
_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+]|\d+[.)])\s+(?P<text>.*?)\s*$")
_DICT_LINE = re.compile(r"^(?P<key>[^\[\]{}]+?):\s*(?P<values>\[.*\])$")
_TAG = re.compile(r"<[^>]*>")

_LABELS = {
    "ablated part": "ablated_part",
    "ablated component": "ablated_part",
    "part": "ablated_part",
    "action": "action",
    "replacement": "replacement",
    "replacements": "replacement",
    "additions": "replacement",
    "values": "replacement",
    "variants": "replacement",
    "metrics": "metrics",
    "metric": "metrics",
    "evaluation metrics": "metrics",
}
_LIST_FIELDS = ("replacement", "metrics")
_COLOURS = {"#7b1fa2": "author", "#2e7d32": "reviewer"}  # header colour encodes the task


@dataclass
class _Field:
    value: str
    line: int
    indent: int
    bulleted: bool
    items: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Draft:
    name: str
    line: int
    fields: dict[str, _Field] = field(default_factory=dict)


def parse_markdown(text: str, source: str | None = None) -> Plan:
    lines = _blank_style_blocks(text.splitlines())
    warnings: list[str] = []
    plan_at = _find_section(lines, r"ablation\s+plan")
    reasoning_at = _find_section(lines, r"reasoning\s+trace")
    start = plan_at + 1 if plan_at is not None else 0
    drafts = _read_drafts(lines, start, source, warnings)
    entries = [_build_entry(d, source) for d in drafts]
    check_entries(entries, source, warnings)
    title = _title(lines, plan_at)
    planner, model, paper = _split_title(title)
    return Plan(
        entries=entries,
        source=source,
        format="markdown",
        title=title,
        planner=planner,
        model=model,
        paper=paper,
        task_kind=_task_kind(lines[plan_at] if plan_at is not None else ""),
        reasoning=_reasoning(lines, reasoning_at),
        warnings=warnings,
    )


def _blank_style_blocks(lines: list[str]) -> list[str]:
    """Blank `<style>` blocks (CSS could look like fields) but keep the line numbering."""
    out, inside = [], False
    for line in lines:
        if "<style" in line.lower():
            inside = True
        out.append("" if inside else line)
        if inside and "</style>" in line.lower():
            inside = False
    return out


def _find_section(lines: list[str], words: str) -> int | None:
    pattern = re.compile(words, re.IGNORECASE)
    for i, line in enumerate(lines):
        if _SECTION.match(line) and pattern.search(_TAG.sub(" ", line)):
            return i
    return None


def _read_drafts(lines: list[str], start: int, source: str | None, warnings: list[str]) -> list[_Draft]:
    drafts: list[_Draft] = []
    current: _Field | None = None  # the field whose items/continuations we are reading
    for i in range(start, len(lines)):
        line, lineno = lines[i].rstrip(), i + 1
        if line.lstrip().lower().startswith("</div"):
            break  # end of the plan div
        if not line.strip():
            continue
        if m := _ENTRY.match(line):
            drafts.append(_Draft(m.group("name").strip(), lineno))
            current = None
        elif not drafts:
            if _TAG.sub("", line).strip():
                warnings.append(located(source, lineno, f"text before the first entry ignored: {line.strip()[:60]!r}"))
        elif m := _FIELD.match(line):
            current = _add_field(drafts[-1], m, lineno, source, warnings)
        elif current is not None and (m := _ITEM.match(line)) and _is_item(current, m):
            current.items.append((m.group("text"), lineno))
        elif current is not None and current.items and len(line) - len(line.lstrip()) > current.indent:
            text, first = current.items[-1]  # a wrapped item continues on an indented line
            current.items[-1] = (f"{text} {line.strip()}", first)
        else:
            warnings.append(located(source, lineno, f"line not understood, ignored: {line.strip()[:60]!r}"))
    return drafts


def _add_field(draft: _Draft, m: re.Match, lineno: int, source: str | None, warnings: list[str]) -> _Field | None:
    label = " ".join(m.group("label").strip().rstrip(":").lower().split())
    key = _LABELS.get(label)
    if key is None:
        warnings.append(located(source, lineno, f"entry {draft.name!r}: unknown field {label!r} ignored;"
                                f" known: Ablated Part, Action, Replacement, Metrics"))
        return None
    if key in draft.fields:
        raise PlanError(located(source, lineno, f"entry {draft.name!r}: field {label!r} given twice"))
    fld = _Field(m.group("rest"), lineno, len(m.group("indent")), bool(m.group("bullet")))
    draft.fields[key] = fld
    return fld if key in _LIST_FIELDS else None


def _is_item(fld: _Field, m: re.Match) -> bool:
    # Items sit deeper than their bulleted field; an un-bulleted field's items may start at column 0.
    return len(m.group("indent")) > fld.indent or not fld.bulleted


def _build_entry(draft: _Draft, source: str | None) -> PlanEntry:
    for key, label in (("ablated_part", "Ablated Part"), ("action", "Action"), ("metrics", "Metrics")):
        if key not in draft.fields:
            raise PlanError(located(source, draft.line, f"entry {draft.name!r} has no {label!r} field;"
                                    " expected Ablated Part, Action, [Replacement], Metrics"))
    fields = draft.fields
    replacement, item_lines, item_texts = _replacement(fields.get("replacement"))
    metrics_field = fields["metrics"]
    metrics = split_metrics(metrics_field.value) if metrics_field.value else []
    metrics += [m for m, _ in metrics_field.items if m not in metrics]  # bullet-list metrics
    return PlanEntry(
        name=draft.name,
        ablated_part=fields["ablated_part"].value,
        action=parse_action(fields["action"].value, source, fields["action"].line),
        replacement=replacement,
        metrics=metrics,
        source=source,
        line=draft.line,
        part_line=fields["ablated_part"].line,
        action_line=fields["action"].line,
        metrics_line=metrics_field.line,
        item_lines=item_lines,
        item_texts=item_texts,
    )


def _replacement(fld: _Field | None) -> tuple[list[Any] | dict[str, Any] | None, list[int] | None, list[str] | None]:
    """(replacement, line per item or dict key, list items as written)."""
    if fld is None:
        return None, None, None
    if fld.value:  # inline: a list literal, or a comma list
        value = literal_item(fld.value)
        if isinstance(value, dict):
            return value, [fld.line] * len(value), None
        inner = fld.value[1:-1] if fld.value.startswith("[") and fld.value.endswith("]") else fld.value
        texts = [p for p in split_top_level(inner) if p]
        items = value if isinstance(value, list) else [literal_item(p) for p in texts]
        return items, [fld.line] * len(items), (texts if len(texts) == len(items) else None)
    texts = [t for t, _ in fld.items]
    lines = [n for _, n in fld.items]
    rendered_dict = _as_rendered_dict(texts)
    if rendered_dict is not None:
        return rendered_dict, lines, None
    return [literal_item(t) for t in texts], lines, texts


def _as_rendered_dict(texts: list[str]) -> dict[str, Any] | None:
    """`key: [v1, v2]` on every line is a rendered `{key: [v1, v2]}` replacement."""
    matches = [_DICT_LINE.match(t) for t in texts]
    if not texts or not all(matches):
        return None
    out: dict[str, Any] = {}
    for m in matches:
        values = literal_item(m.group("values"))
        if not isinstance(values, list):  # e.g. `[low, high]`: not a literal, keep the words
            values = [literal_item(v) for v in split_top_level(m.group("values")[1:-1]) if v]
        out[m.group("key").strip()] = values
    return out


def _title(lines: list[str], plan_at: int | None) -> str | None:
    for line in lines[: plan_at if plan_at is not None else len(lines)]:
        if m := _H1.match(line):
            return m.group("title")
    return None


def _split_title(title: str | None) -> tuple[str | None, str | None, str | None]:
    """`lm-planner/gpt-4o/Paper_Slug` -> (planner, model, paper)."""
    if not title or title.count("/") < 2:
        return None, None, None
    planner, model, paper = title.split("/", 2)
    return planner.strip(), model.strip(), paper.strip()


def _task_kind(header: str) -> str:
    for colour, kind in _COLOURS.items():
        if colour in header.lower():
            return kind
    return "unknown"


def _reasoning(lines: list[str], at: int | None) -> str | None:
    if at is None:
        return None
    body: list[str] = []
    for line in lines[at + 1 :]:
        if line.lstrip().lower().startswith("</div") or _find_section([line], r"ablation\s+plan") is not None:
            break
        body.append(_TAG.sub("", line))
    return "\n".join(body).strip() or None
