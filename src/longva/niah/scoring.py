"""Answer matching for `generate` mode (the `exact` mode compares token ids, see evaluator).

Generated text is normalised before the comparison: case, surrounding whitespace and
punctuation, and a leading "the"/"a" do not count ("Yellow." == "yellow"). For multiple-choice
needles the first option letter of the output is compared ("B", "(B)", "B. Times Square").
"""

from __future__ import annotations

import re
import string

_LETTER_RE = re.compile(r"^\s*\(?([A-J])(?:[\).:,\s]|$)")
_ARTICLE_RE = re.compile(r"^(the|a|an)\s+")


def normalize_answer(text: str) -> str:
    text = " ".join(text.strip().lower().split())
    text = text.strip(string.punctuation + " ")
    return _ARTICLE_RE.sub("", text)


def option_letter(text: str) -> str | None:
    m = _LETTER_RE.match(text)
    return m.group(1) if m else None


def generated_correct(text: str, answer: str, is_option: bool) -> bool:
    if is_option:
        return option_letter(text) == answer.strip().upper()
    return normalize_answer(text) == normalize_answer(answer)
