"""Task items as data: what is hidden where in the haystack, and what is asked about it.

A `TaskSet` is what every family's loader returns and every generator writes (as `task.json`
next to its images): a list of visuals (needle images or clips) and items. An item inserts some
visuals into the haystack and asks one or more questions:

- `Insert(visual, offset)`: a *moving* insert. For grid depth d its depth is
  `d * (1 - span) + offset`, span = the largest moving offset of the item, so the whole group
  keeps its spacing and order and sweeps the haystack as d goes 0 -> 1 (one insert with offset
  0 is the original V-NIAH: depth d);
- `Insert(visual, at=f)`: a *fixed* insert at fraction f whatever the grid depth (distractors).

An insert goes after `insert_index(depth, units)` haystack units; inserts at the same place keep
their listed order. `Question.options` turns a question into multiple choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longva.errors import InputError
from longva.niah.grid import insert_index


@dataclass(frozen=True)
class Insert:
    visual: int  # index into TaskSet.visuals
    offset: float = 0.0
    at: float | None = None


@dataclass(frozen=True)
class Question:
    text: str  # as the model reads it after the video (LongVA-style: starts with "\n")
    answer: str
    options: tuple[str, ...] = ()  # always asked as multiple choice
    choices: tuple[str, ...] = ()  # candidate answers for `--mode mc` only (else open)


@dataclass(frozen=True)
class TaskItem:
    id: str
    inserts: tuple[Insert, ...]
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class TaskSet:
    task: str
    visuals: tuple[Path, ...]
    items: tuple[TaskItem, ...]

    @property
    def cells_per_point(self) -> int:
        return sum(len(item.questions) for item in self.items)


def placements(inserts: tuple[Insert, ...], depth: float, units: int) -> list[tuple[int, int]]:
    """(haystack units before it, insert index) for every insert, in sequence order."""
    span = max((i.offset for i in inserts if i.at is None), default=0.0)
    out = []
    for n, ins in enumerate(inserts):
        d = ins.at if ins.at is not None else depth * (1 - span) + ins.offset
        out.append((insert_index(min(max(d, 0.0), 1.0), units), n))
    return sorted(out)


def check_item(item: TaskItem, n_visuals: int, where: str) -> TaskItem:
    """Offsets in [0, 1), fixed depths in [0, 1], visuals that exist, at least one question."""
    for ins in item.inserts:
        bad_offset = not 0 <= ins.offset < 1
        bad_at = ins.at is not None and not 0 <= ins.at <= 1
        if bad_offset or bad_at or not 0 <= ins.visual < n_visuals:
            raise InputError(
                f"{where}: insert {ins} is out of range;"
                " expected offsets in [0, 1) and depths in [0, 1]"
            )
    if not item.inserts or not item.questions:
        raise InputError(f"{where}: item {item.id!r} needs at least one needle and one question")
    return item
