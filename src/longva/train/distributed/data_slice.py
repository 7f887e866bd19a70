"""Give each data-parallel rank its rows of a global batch, keeping the iterator resumable.

Every rank draws the same global batch (the data pipeline is deterministic from its seed and
position) and keeps rows [dp_rank * B/dp, (dp_rank + 1) * B/dp). The update therefore does not
depend on the number of ranks, and all ranks share one data position in checkpoints.
"""

from __future__ import annotations

import torch

from longva.errors import ConfigError


class DataParallelSlice:
    def __init__(self, batches, dp_rank: int, dp_size: int):
        self.batches, self.dp_rank, self.dp_size = batches, dp_rank, dp_size

    def __iter__(self) -> DataParallelSlice:
        return self

    def __next__(self) -> dict:
        batch = next(self.batches)
        if self.dp_size == 1:
            return batch
        return {k: self._rows(k, v) for k, v in batch.items()}

    def _rows(self, key: str, value):
        if not isinstance(value, torch.Tensor):
            return value
        if value.shape[0] % self.dp_size:
            raise ConfigError(
                f"data.batch_size: {value.shape[0]} rows of {key!r} do not split over {self.dp_size} data-parallel "
                "ranks"
            )
        per = value.shape[0] // self.dp_size
        return value[self.dp_rank * per : (self.dp_rank + 1) * per]

    def state_dict(self) -> dict:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state)
