"""Process groups from the `torchrun` environment, for training and evaluation alike.

Ranks are laid out as W = dp_size x cp_size with the context-parallel ranks consecutive
(rank = dp_rank * cp_size + cp_rank): a cp group shares one sequence (zigzag-sharded), dp groups
read different sequences. FSDP, when on, shards over all W ranks (torchtitan's "dp_shard_cp").
Evaluation (NIAH) uses the plain data-parallel layout: `init_parallel()`, `world()`, `barrier()`.
Backend: nccl when CUDA is available (each rank on its LOCAL_RANK GPU), else gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from longva.errors import ConfigError


@dataclass
class ParallelContext:
    world: int = 1
    rank: int = 0
    device: torch.device = torch.device("cpu")
    cp_size: int = 1
    cp_group: object | None = None
    fsdp_mesh: object | None = None  # 1-D DeviceMesh over all ranks when FSDP is on

    @property
    def cp_rank(self) -> int:
        return self.rank % self.cp_size

    @property
    def dp_size(self) -> int:
        return self.world // self.cp_size

    @property
    def dp_rank(self) -> int:
        return self.rank // self.cp_size

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over all ranks (in place when distributed); returns the tensor."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_parallel(cp_size: int = 1, fsdp: bool = False) -> ParallelContext:
    """Join (or reuse) torchrun's process group and create the context-parallel groups.

    Without torchrun (no WORLD_SIZE) it is a single process and no group is created.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if cp_size < 1 or world_size % cp_size:
        raise ConfigError(
            f"parallel.context_parallel: {cp_size} must divide the number of processes {world_size}"
        )
    device = _device(int(os.environ.get("LOCAL_RANK", "0")))
    if world_size == 1:
        return ParallelContext(device=device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    cp_group = None
    if cp_size > 1:
        for start in range(0, world_size, cp_size):  # every rank must create every group
            group = dist.new_group(list(range(start, start + cp_size)))
            if start <= rank < start + cp_size:
                cp_group = group
    mesh = None
    if fsdp:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh(device.type, (world_size,))
    return ParallelContext(
        world=world_size, rank=rank, device=device, cp_size=cp_size, cp_group=cp_group, fsdp_mesh=mesh
    )


def world() -> tuple[int, int]:
    """(rank, world_size): from torch.distributed when initialised, else torchrun's env, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
