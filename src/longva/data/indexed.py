"""Endless, resumable batch iterators whose batch i is a pure function of i (and a seed).

The trainer checkpoints `state_dict()` = the next index, so a resumed run draws exactly the
batches it would have drawn: no data pipeline state beyond one integer.
"""

from __future__ import annotations

from collections.abc import Callable


class IndexedBatches:
    """Iterate `batch(0), batch(1), ...`; give `batch_fn` or override `batch`."""

    def __init__(self, batch_fn: Callable[[int], dict] | None = None):
        self._batch_fn = batch_fn
        self.index = 0

    def batch(self, index: int) -> dict:
        return self._batch_fn(index)

    def __iter__(self) -> IndexedBatches:
        return self

    def __next__(self) -> dict:
        out = self.batch(self.index)
        self.index += 1
        return out

    def state_dict(self) -> dict:
        return {"index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.index = int(state["index"])
