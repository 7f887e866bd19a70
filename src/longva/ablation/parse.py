"""Read a plan file in any supported form; the form is detected from the content, not the name.

Order of detection: `<predictions>` tags -> planner response; a text starting with `{` or `[`
-> JSON / JSONL; bold field labels or an "Ablation Plan" heading -> rendered markdown
(`parse_markdown`); anything else -> YAML. Mojibake (`ðŸ§ `) is repaired before parsing.

Record forms (the benchmark's lossless form and our own YAML/JSON), whatever the file extension:
- JSONL: one `AblationSuggestion` object per line (`<task>.jsonl`, the SWE-agent plan file);
- a raw planner response: `<predictions>` ... JSONL ... `</predictions>`;
- JSON or YAML holding a list of records, one record, `{entries: [...]}`, or `plans.json`
  (`{task_id: {"predictions": "<jsonl string>", "cost": ...}}`; pick one with `task`).

A record's line is found by searching its name in the text, so errors point near the record
even in a pretty-printed JSON or YAML file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from longva.ablation.errors import PlanError, located
from longva.ablation.parse_markdown import parse_markdown
from longva.ablation.plan import (
    Plan,
    PlanEntry,
    check_entries,
    decode_bytes,
    parse_action,
    repair_mojibake,
    split_metrics,
)

_MARKDOWN_HINTS = re.compile(
    r"\*\*\s*(ablated part|action)\s*:?\s*\*\*|ablation\s+plan\s*</h\d>|^#{2,4}\s", re.I | re.M
)


def load_plan(path: str | Path, task: str | None = None) -> Plan:
    """Read and parse `path`; one-line `PlanError` (exit 2 in the CLI) when it is not a plan."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file {str(path)!r} does not exist; expected a markdown, JSONL, JSON or YAML plan")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PlanError(f"plan file {str(path)!r} cannot be read: {e.strerror}") from None
    return parse_plan(decode_bytes(data), source=str(path), task=task)


def parse_plan(text: str, source: str | None = None, task: str | None = None) -> Plan:
    text = repair_mojibake(text)
    if not text.strip():
        raise PlanError(f"{source or 'plan'}: file is empty; expected an ablation plan")
    stripped = text.lstrip()
    if "<predictions>" in text.lower():
        return parse_predictions(text, source)
    if stripped[:1] in "[{":
        return parse_json(text, source, task)
    if _MARKDOWN_HINTS.search(text):
        return parse_markdown(text, source)
    return parse_yaml(text, source, task)


# ---- record forms ----------------------------------------------------------------------------

_KEYS = {
    "name": "name",
    "ablated_part": "ablated_part",
    "ablated_component": "ablated_part",
    "part": "ablated_part",
    "action": "action",
    "replacement": "replacement",
    "replacements": "replacement",
    "metrics": "metrics",
    "metric": "metrics",
}
_REQUIRED = ("name", "ablated_part", "action", "metrics")
_EXPECTED = "expected keys name, ablated_part, action, metrics[, replacement]"
_PREDICTIONS = re.compile(r"<predictions>(?P<body>.*?)(?:</predictions>|\Z)", re.DOTALL | re.IGNORECASE)


def parse_predictions(text: str, source: str | None = None) -> Plan:
    """A planner response: the JSONL between `<predictions>` tags (the discussion is ignored)."""
    m = _PREDICTIONS.search(text)
    if m is None:
        raise PlanError(located(source, None, "no <predictions> block found"))
    first_line = text.count("\n", 0, m.start("body")) + 1
    return _plan_from_jsonl(m.group("body"), source, first_line, "jsonl")


def parse_json(text: str, source: str | None = None, task: str | None = None) -> Plan:
    """A JSON document, or JSONL when the text is not one JSON document."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if text.strip().count("\n") == 0:
            raise PlanError(located(source, e.lineno, f"not valid JSON: {e.msg}")) from None
        return _plan_from_jsonl(text, source, 1, "jsonl")
    return _plan_from_document(doc, text, source, task, "json")


def parse_yaml(text: str, source: str | None = None, task: str | None = None) -> Plan:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PlanError(located(source, line, f"not valid YAML: {problem}")) from None
    return _plan_from_document(doc, text, source, task, "yaml")


def _plan_from_jsonl(body: str, source: str | None, first_line: int, fmt: str) -> Plan:
    warnings: list[str] = []
    entries = []
    for offset, line in enumerate(body.splitlines()):
        stripped = line.strip()
        if not stripped or stripped.startswith("```"):  # LM responses wrap JSONL in code fences
            continue
        lineno = first_line + offset
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise PlanError(located(source, lineno, f"not valid JSON ({e.msg}); expected one"
                                    " AblationSuggestion object per line")) from None
        entries.append(record_to_entry(record, source, lineno, len(entries) + 1, warnings))
    check_entries(entries, source, warnings)
    return Plan(entries=entries, source=source, format=fmt, warnings=warnings)


def _plan_from_document(doc: Any, text: str, source: str | None, task: str | None, fmt: str) -> Plan:
    records, title = _records(doc, source, task)
    if isinstance(records, str):  # plans.json: the predictions are a JSONL string
        plan = _plan_from_jsonl(records, source, 1, "plans.json")
        plan.title = title
        return plan
    warnings: list[str] = []
    entries, pos = [], 0
    for index, record in enumerate(records, start=1):
        line, pos = _locate(text, record, pos)
        entries.append(record_to_entry(record, source, line, index, warnings))
    check_entries(entries, source, warnings)
    return Plan(entries=entries, source=source, format=fmt, title=title, warnings=warnings)


def _records(doc: Any, source: str | None, task: str | None) -> tuple[list | str, str | None]:
    """The list of records inside any accepted document shape (or a JSONL string)."""
    if isinstance(doc, list):
        return doc, None
    if not isinstance(doc, dict):
        raise PlanError(located(source, None, "not an ablation plan; expected '### <name>' markdown entries with"
                                " **Ablated Part** / **Action** / **Metrics** fields, JSON/JSONL records or YAML"))
    if "action" in doc or "ablated_part" in doc:
        return [doc], None
    for key in ("entries", "ablations", "plan", "predictions"):
        if key in doc:
            value = doc[key]
            return (value if isinstance(value, (list, str)) else [value]), doc.get("title")
    return _task_records(doc, source, task)


def _task_records(doc: dict, source: str | None, task: str | None) -> tuple[list | str, str | None]:
    """`plans.json`: {task_id: {"predictions": ...}}; one task, or the one named by `task`."""
    tasks = {k: v for k, v in doc.items() if isinstance(v, dict) and "predictions" in v}
    if not tasks:
        raise PlanError(located(source, None, "mapping holds no ablation records; expected a list of records,"
                                " {entries: [...]} or plans.json {task_id: {predictions: ...}}"))
    if task is None and len(tasks) == 1:
        task = next(iter(tasks))
    if task not in tasks:
        raise PlanError(located(source, None, f"plans file holds {len(tasks)} tasks; choose one with"
                                f" --task (known: {', '.join(sorted(tasks))})"))
    predictions = tasks[task]["predictions"]
    return (predictions if isinstance(predictions, (list, str)) else [predictions]), task


def _locate(text: str, record: Any, pos: int) -> tuple[int | None, int]:
    """1-based line of the record's name at or after `pos` (None when it cannot be found)."""
    name = record.get("name") if isinstance(record, dict) else None
    if not isinstance(name, str) or not name:
        return None, pos
    for needle in (name, json.dumps(name)[1:-1]):
        found = text.find(needle, pos)
        if found >= 0:
            return text.count("\n", 0, found) + 1, found + len(needle)
    return None, pos


def record_to_entry(record: Any, source: str | None, line: int | None, index: int, warnings: list[str]) -> PlanEntry:
    """One AblationSuggestion object -> PlanEntry (strict on the required keys and types)."""
    if not isinstance(record, dict):
        raise PlanError(located(source, line, f"record {index} is a {type(record).__name__}; {_EXPECTED}"))
    fields: dict[str, Any] = {}
    for key, value in record.items():
        canonical = _KEYS.get(str(key).strip().lower().replace(" ", "_"))
        if canonical is None:
            warnings.append(located(source, line, f"record {index}: unknown key {key!r} ignored; {_EXPECTED}"))
        else:
            fields[canonical] = value
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        listed = ", ".join(map(repr, missing))
        raise PlanError(located(source, line, f"record {index} is missing {listed}; {_EXPECTED}"))
    name = str(fields["name"]).strip()
    replacement = _replacement(fields.get("replacement"), source, line, name)
    n_items = len(replacement) if replacement is not None else 0
    return PlanEntry(
        name=name,
        ablated_part=str(fields["ablated_part"]).strip(),
        action=parse_action(fields["action"], source, line),
        replacement=replacement,
        metrics=_metrics(fields["metrics"], source, line, name),
        source=source,
        line=line,
        part_line=line,
        action_line=line,
        metrics_line=line,
        item_lines=[line] * n_items if line is not None else None,
    )


def _replacement(value: Any, source: str | None, line: int | None, name: str) -> list | dict | None:
    if value is None or isinstance(value, (list, dict)):
        return value
    raise PlanError(located(source, line, f"entry {name!r}: replacement must be a list, a mapping or null,"
                            f" got {type(value).__name__}"))


def _metrics(value: Any, source: str | None, line: int | None, name: str) -> list[str]:
    if isinstance(value, str):
        return split_metrics(value)
    if isinstance(value, list):
        return [str(m).strip() for m in value if str(m).strip()]
    raise PlanError(located(source, line, f"entry {name!r}: metrics must be a list of names,"
                            f" got {type(value).__name__}"))
