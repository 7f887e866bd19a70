"""Sum gradients over ranks without FSDP (data / context parallel with replicated weights).

Gradients are flattened into buckets (one all-reduce per ~32M elements instead of one per
tensor). A parameter without a gradient on this rank contributes zeros, so every rank issues the
same collectives even when some parameter was unused in its forward.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

BUCKET_ELEMENTS = 1 << 25


def _buckets(params: list[torch.nn.Parameter], size: int):
    bucket, count = [], 0
    for p in params:
        if bucket and (count + p.numel() > size or p.grad.dtype != bucket[0].grad.dtype):
            yield bucket
            bucket, count = [], 0
        bucket.append(p)
        count += p.numel()
    if bucket:
        yield bucket


def all_reduce_grads(params: list[torch.nn.Parameter], group=None, bucket_elements: int = BUCKET_ELEMENTS) -> None:
    """In-place SUM of `p.grad` over the ranks of `group` for every parameter in `params`."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for bucket in _buckets(params, bucket_elements):
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        offset = 0
        for p in bucket:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()
