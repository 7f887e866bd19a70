"""Resumable, shuffled batches of LLaVA conversations for the alignment stage.

Epoch `e` visits the rows in the order `permutation(seed, e)` (or file order without shuffle);
the position is (epoch, cursor = rows of that order already consumed), so a resumed run draws
exactly the batches the uninterrupted run would have drawn. A global batch is the next
`batch_size` rows that fit `max_length`; a longer row is an error naming it (`too_long: error`)
or is skipped (`too_long: skip`), never truncated. Under data parallelism every rank walks the
same order (lengths come from image headers, cheap) and decodes only its own slice of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from longva.data.conversations import ConversationDataset, ImageMode
from longva.errors import ConfigError, InputError


@dataclass
class AlignDataConfig:
    path: str = "data/llava.json"  # LLaVA conversations: a JSON list or JSONL
    image_folder: str | None = None  # image paths are relative to it (and may not leave it)
    batch_size: int = 1  # rows per micro-step, over all data-parallel ranks
    shuffle: bool = True
    seed: int = 0
    max_length: int | None = None  # LM tokens after splicing the visual tokens
    too_long: Literal["error", "skip"] = "error"
    image_mode: ImageMode = "grids"  # grids: the model's encoding (UniRes/AnyRes); crop/pad: one grid
    system: str | None = None  # system message (None: the template's default)

    def validate(self, where: str = "data") -> None:
        if self.batch_size < 1:
            raise ConfigError(f"{where}.batch_size: must be >= 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"{where}.max_length: must be >= 1 or null, got {self.max_length}")


class AlignBatches:
    """Iterator of batch dicts: `ids`, `label_rows` (lists of 1-D rows), `visuals`, `row_ids`."""

    def __init__(
        self, dataset: ConversationDataset, cfg: AlignDataConfig, dp_rank: int = 0, dp_size: int = 1, on_skip=None
    ):
        if cfg.batch_size % dp_size:
            raise ConfigError(f"data.batch_size: {cfg.batch_size} rows do not split over {dp_size} data-parallel ranks")
        self.dataset, self.cfg = dataset, cfg
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.on_skip = on_skip  # called with (row_id, length) for each skipped row
        self.epoch, self.cursor, self.skipped = 0, 0, 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if not self.cfg.shuffle:
            return np.arange(n)
        return np.random.default_rng(np.random.SeedSequence([self.cfg.seed, epoch])).permutation(n)

    def _next_index(self) -> int:
        if self.cursor == len(self._order):
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._epoch_order(self.epoch)
        i = int(self._order[self.cursor])
        self.cursor += 1
        return i

    def _fits(self, i: int) -> bool:
        limit = self.cfg.max_length
        if limit is None:
            return True
        n = self.dataset.length(i)
        if n <= limit:
            return True
        row_id = self.dataset.records[i].row_id
        if self.cfg.too_long == "error":
            raise InputError(
                f"row {row_id}: {n} tokens with its images spliced in, more than data.max_length={limit};"
                " set data.too_long=skip to leave such rows out (nothing is truncated)"
            )
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip(row_id, n)
        return False

    def next_rows(self) -> list[int]:
        """Dataset indices of the next global batch (all ranks get the same list)."""
        rows, visited = [], 0
        while len(rows) < self.cfg.batch_size:
            i = self._next_index()
            visited += 1
            if self._fits(i):
                rows.append(i)
            elif visited > len(self.dataset) and not rows:
                raise InputError(
                    f"data {self.cfg.path}: every row is longer than data.max_length={self.cfg.max_length}"
                )
        return rows

    def __iter__(self) -> AlignBatches:
        return self

    def __next__(self) -> dict:
        rows = self.next_rows()
        per = len(rows) // self.dp_size
        mine = rows[self.dp_rank * per : (self.dp_rank + 1) * per]
        examples = [self.dataset.example(i) for i in mine]
        return {
            "ids": [e.input_ids for e in examples],
            "label_rows": [e.labels for e in examples],
            "visuals": [v for e in examples for v in e.visuals],  # k-th placeholder, k-th visual
            "row_ids": [e.row_id for e in examples],
        }

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self.skipped = int(state.get("skipped", 0))
        self._order = self._epoch_order(self.epoch)
