"""Task items -> tokenised queries, with the scoring mode's question format.

- `exact` / `generate`: a question is asked once; with options it is the original's multiple
  choice ("A. ..." lines + instruction, answer = the letter), without them an open question.
- `mc`: every question is asked once per rotation of its options (or choices): option i of
  rotation r is option (i + r) mod n, answer = the right letter of that rotation. Its cells
  carry `rotation`, and a question counts as right only if every rotation is (`summary.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from longva.errors import InputError
from longva.niah.needles import OPTION_LETTERS, Needle
from longva.niah.tasks.spec import Insert, Question, TaskSet

SCORING = ("exact", "generate", "mc")


@dataclass(frozen=True)
class Query:
    """One question as token ids (what a cell asks after the video)."""

    question_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    answer_text: str = ""
    is_option: bool = False
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ItemPrompt:
    """A task item ready for the builder: its inserts and its tokenised queries."""

    id: str
    inserts: tuple[Insert, ...]
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class NeedlePrompt:
    """One needle of the original single-needle V-NIAH, tokenised (`builder.single_items`)."""

    id: str
    question_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    answer_text: str = ""
    is_option: bool = False


def safe_tokenize(tokenizer, text: str) -> list[int]:
    """encode() without a leading BOS (the original's safe_tokenize)."""
    ids = list(tokenizer.encode(text))
    bos = getattr(tokenizer, "bos_token_id", None)
    return ids[1:] if bos is not None and ids and ids[0] == bos else ids


def rotations(q: Question) -> list[tuple[str, str]]:
    """(prompt, answer letter) per rotation of q's options (or choices)."""
    candidates = q.options or q.choices
    out = []
    for r in range(len(candidates)):
        options = candidates[r:] + candidates[:r]
        letter = OPTION_LETTERS[options.index(q.answer)]
        out.append((Needle("", Path(), q.text, letter, options).prompt, letter))
    return out


def asked(q: Question, scoring: str) -> list[tuple[str, str, bool]]:
    """(prompt, answer, is_option) for each time question q is asked."""
    if scoring == "mc":
        return [(p, a, True) for p, a in rotations(q)]
    if q.options:
        letter = OPTION_LETTERS[q.options.index(q.answer)]
        return [(Needle("", Path(), q.text, letter, q.options).prompt, letter, True)]
    return [(q.text, q.answer, False)]


def tokenize_items(
    tasks: TaskSet,
    question_ids: Callable[[str], Sequence[int]],
    answer_ids: Callable[[str], Sequence[int]],
    scoring: str = "exact",
) -> list[ItemPrompt]:
    if scoring not in SCORING:
        raise InputError(f"--mode {scoring!r} is unknown; expected one of {', '.join(SCORING)}")
    if scoring == "mc":
        bare = [
            it.id for it in tasks.items for q in it.questions if len(q.options or q.choices) < 2
        ]
        if bare:
            raise InputError(
                f"--mode mc needs options for every question; item {bare[0]!r} has none"
                " (expected an 'options' or 'choices' list in its JSON)"
            )
    items = []
    for item in tasks.items:
        queries = []
        for j, q in enumerate(item.questions):
            for r, (prompt, answer, is_option) in enumerate(asked(q, scoring)):
                meta = {"item": item.id, "question": j}
                if scoring == "mc":
                    meta["rotation"] = r
                queries.append(
                    Query(
                        tuple(question_ids(prompt)),
                        tuple(answer_ids(answer)),
                        answer,
                        is_option,
                        meta,
                    )
                )
        items.append(ItemPrompt(item.id, item.inserts, tuple(queries)))
    return items
