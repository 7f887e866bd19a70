"""Read a plan file in any supported form; the form is detected from the content, not the name.

Order of detection: `<predictions>` tags -> planner response; a text starting with `{` or `[`
-> JSON / JSONL; bold field labels or an "Ablation Plan" heading -> rendered markdown;
anything else -> YAML. Mojibake (`ðŸ§ `) is repaired before parsing.
"""

from __future__ import annotations

import re
from pathlib import Path

from longva.ablation.errors import PlanError
from longva.ablation.parse_markdown import parse_markdown
from longva.ablation.parse_records import parse_json, parse_predictions, parse_yaml
from longva.ablation.plan import Plan
from longva.ablation.text import decode_bytes, repair_mojibake

_MARKDOWN_HINTS = re.compile(r"\*\*\s*(ablated part|action)\s*:?\s*\*\*|ablation\s+plan\s*</h\d>|^#{2,4}\s", re.I | re.M)


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
