"""Video-MME's prompt (as lmms-eval sends it) and its official scorer.

Prompt: lmms-eval's `videomme` task (`videomme_doc_to_text` with the default post-prompt), the
one LongVA's published numbers (52.6 at 128 frames) were measured with. Generation: greedy, at
most 16 new tokens, cut at lmms-eval's default stop string "\\n\\n".

Scorer: the official `eval_your_results.py` of Video-MME: remove answer prefixes ("The best
answer is", ...), give up on a long answer (> 10 words) without any of A-D, else take the first
A-D character. Its prefix list has two missing commas, so "The best option isThe correct option
is" and "Best answer:Best option:" are single prefixes; that is kept, since it is what the
official numbers used. Official accuracy counts only questions with an extracted letter
("answered"); `accuracy_all` also counts the unanswered ones as wrong (lmms-eval's convention).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

OPTION_PROMPT = (
    "Select the best answer to the following multiple-choice question based on the"
    " video and the subtitles. Respond with only the letter (A, B, C, or D) of the"
    " correct option."
)
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
MAX_NEW_TOKENS = 16
STOP_STRINGS = ("\n\n",)

ANSWER_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",  # the official list's missing comma, kept
    "Best answer:Best option:",  # idem
)
_LETTER = re.compile(r"[ABCD]")


def videomme_prompt(question: str, options: Iterable[str]) -> str:
    """The text after the video placeholder (lmms-eval `videomme_doc_to_text`, default kwargs)."""
    return "\n".join([OPTION_PROMPT, question, "\n".join(options), POST_PROMPT])


def extract_answer(response: str) -> str:
    """The official scorer's letter for a response ("" when none can be extracted)."""
    text = response.strip()
    for prefix in ANSWER_PREFIXES:
        text = text.replace(prefix, "")
    if len(text.split()) > 10 and not _LETTER.search(text):
        return ""
    found = _LETTER.search(text)
    return found.group(0) if found else ""


def accuracy(records: list[dict]) -> dict:
    """Official accuracy (over answered questions) and accuracy over all questions, in %."""
    answered = [r for r in records if r["extracted"]]
    correct = sum(1 for r in answered if r["extracted"] == r["answer"])
    n = len(records)
    return {
        "accuracy": 100.0 * correct / len(answered) if answered else None,
        "accuracy_all": 100.0 * correct / n if n else None,
        "correct": correct,
        "answered": len(answered),
        "questions": n,
    }


def breakdown(records: list[dict], field: str, order: Iterable[str] = ()) -> dict[str, dict]:
    """accuracy() per value of `field` (duration, task_type, domain), known values first."""
    values = list(
        dict.fromkeys(
            [
                *[v for v in order if any(r[field] == v for r in records)],
                *sorted({r[field] for r in records}),
            ]
        )
    )
    return {v: accuracy([r for r in records if r[field] == v]) for v in values}
