"""Data-parallel NIAH under torchrun: contiguous slices of the trie-ordered cells per rank.

Cells are split into contiguous groups of the sorted order, balanced by the tokens each would
prefill, so every rank still walks its part of the trie with one reused KV cache (a round-robin
split would destroy the sharing). Each rank appends to its own JSONL; after a barrier rank 0
reads all of them and writes the summary. Works with gloo (CPU) and nccl.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world_size): from torch.distributed when initialised, else torchrun's env, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_from_env() -> bool:
    """Join the torchrun process group if launched by torchrun; True when distributed."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def partition(costs: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Split indices 0..len(costs) into `parts` contiguous [a, b) ranges of about equal cost.

    Boundary j is where the running cost first reaches j/parts of the total; empty ranges are
    allowed (more ranks than cells).
    """
    total = sum(max(c, 0) for c in costs) or 1
    bounds, running, j = [0], 0, 1
    for i, c in enumerate(costs):
        running += max(c, 0)
        while j < parts and running >= total * j / parts:
            bounds.append(i + 1)
            j += 1
    while len(bounds) < parts:
        bounds.append(len(costs))
    bounds.append(len(costs))
    return [(bounds[r], bounds[r + 1]) for r in range(parts)]
