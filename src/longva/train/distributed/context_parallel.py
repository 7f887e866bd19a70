"""Context parallelism for a transformers LM, applied from outside the model code.

- `shard_for_context_parallel` / `unshard_context_parallel`: the zigzag layout. The sequence is
  cut into 2W chunks and rank r keeps chunks r and 2W-1-r (balanced causal work). Token ids,
  position ids and labels are sharded the same way, so RoPE sees global positions and each rank
  scores its own targets.
- `apply_context_parallel(model, group)`: registers the ring attention function with
  transformers' `AttentionInterface` and switches the model to it with
  `set_attn_implementation`; attention modules get the process group as an attribute. No model
  code is patched (as torchtitan applies parallelisms to an unmodified model).
  A custom implementation name has no mask function, so transformers passes `attention_mask=None`
  and the ring applies the causal structure itself (no padding masks: pack sequences instead).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from longva.train.distributed.ring_attention import zigzag_ring_attention

ATTN_NAME = "longva_zigzag_ring"
_GROUP_ATTR = "_longva_cp_group"


def zigzag_chunks(rank: int, world: int) -> tuple[int, int]:
    return rank, 2 * world - 1 - rank


def shard_for_context_parallel(tensor: torch.Tensor, dim: int, rank: int, world: int) -> torch.Tensor:
    """Keep chunks (r, 2W-1-r) of `tensor` along `dim` (its length must divide by 2W)."""
    length = tensor.shape[dim]
    if length % (2 * world):
        raise ValueError(
            f"context parallel: length {length} along dim {dim} is not a multiple of 2*world = {2 * world}"
        )
    chunks = tensor.chunk(2 * world, dim=dim)
    first, second = zigzag_chunks(rank, world)
    return torch.cat([chunks[first], chunks[second]], dim=dim)


def zigzag_order(world: int) -> list[int]:
    """Global chunk index of each gathered local chunk: rank 0's two, then rank 1's, ..."""
    return [c for r in range(world) for c in zigzag_chunks(r, world)]


def unshard_context_parallel(local: torch.Tensor, dim: int, group=None) -> torch.Tensor:
    """Inverse of `shard_for_context_parallel`: all-gather the shards and restore the order."""
    world = dist.get_world_size(group)
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local.contiguous(), group=group)
    return unzigzag(gathered, dim)


def unzigzag(shards: list[torch.Tensor], dim: int) -> torch.Tensor:
    """Reassemble the global tensor from the per-rank zigzag shards (rank order)."""
    world = len(shards)
    pieces = [p for shard in shards for p in shard.chunk(2, dim=dim)]
    ordered = [None] * (2 * world)
    for piece, index in zip(pieces, zigzag_order(world), strict=True):
        ordered[index] = piece
    return torch.cat(ordered, dim=dim)


def shard_batch(batch: dict[str, torch.Tensor], rank: int, world: int, seq_dim: int = 1) -> dict[str, torch.Tensor]:
    """Zigzag-shard every sequence tensor of a batch; adds global `position_ids` if missing."""
    if world == 1:
        return batch
    out = dict(batch)
    if "position_ids" not in out:
        ids = out["input_ids"]
        out["position_ids"] = torch.arange(ids.shape[seq_dim], device=ids.device).expand(ids.shape[0], -1)
    for key in ("input_ids", "labels", "position_ids"):
        if key in out:
            out[key] = shard_for_context_parallel(out[key], seq_dim, rank, world)
    return out


def _attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """transformers attention function: q (B, H, L, D), k/v (B, Hkv, L, D) -> ((B, L, H, D), None)."""
    group = getattr(module, _GROUP_ATTR, None)
    if group is None:
        raise RuntimeError(
            f"{type(module).__name__} uses {ATTN_NAME} without a process group; call apply_context_parallel"
        )
    if attention_mask is not None:
        raise ValueError(
            "zigzag ring attention supports causal attention without a mask only; pack sequences instead of padding"
        )
    if is_causal is False or dropout or kwargs.get("sliding_window") or kwargs.get("softcap"):
        raise ValueError("zigzag ring attention supports causal, dropout-free, full attention only")
    if query.is_cuda and _ring_flash_available():
        out = _ring_flash(query, key, value, scaling, group)
    else:
        out = zigzag_ring_attention(query, key, value, group=group, scale=scaling)  # (B, H, L, D)
    return out.transpose(1, 2).contiguous(), None


def _ring_flash_available() -> bool:
    try:
        import ring_flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def _ring_flash(query, key, value, scaling, group):  # pragma: no cover - needs CUDA + flash-attn
    """zhuzilin's ring-flash-attn kernel (the original's backend); takes (B, L, H, D), GQA-native."""
    from ring_flash_attn import zigzag_ring_flash_attn_func

    out = zigzag_ring_flash_attn_func(
        query.transpose(1, 2),
        key.transpose(1, 2),
        value.transpose(1, 2),
        softmax_scale=scaling,
        causal=True,
        group=group,
    )
    return out.transpose(1, 2)


def is_context_parallel(model: torch.nn.Module) -> bool:
    """Whether `apply_context_parallel` was applied to (a submodule of) `model`."""
    return any(hasattr(m, _GROUP_ATTR) for m in model.modules())


def register_ring_attention() -> str:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, _attention)
    return ATTN_NAME


def apply_context_parallel(model: torch.nn.Module, group=None) -> torch.nn.Module:
    """Switch a transformers model to zigzag ring attention over `group` (in place)."""
    tagged = 0
    for module in model.modules():
        if hasattr(module, "is_causal") and hasattr(module, "config"):
            setattr(module, _GROUP_ATTR, group if group is not None else dist.group.WORLD)
            tagged += 1
    if not tagged:
        raise ValueError(f"{type(model).__name__} has no attention module (with is_causal) to parallelise")
    model.set_attn_implementation(register_ring_attention())
    return model
