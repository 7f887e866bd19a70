"""Zigzag ring attention (causal) on torch.distributed point-to-point ops, exact on CPU/gloo.

Layout (see `context_parallel.py`): the global sequence is cut into 2W chunks and rank r holds
chunks (r, 2W-1-r), so every rank has the same amount of causal work. Queries stay put; the
key/value block travels around the ring (rank r sends to r+1, receives from r-1), so at ring
step s rank r holds the KV of rank src = (r - s) mod W:

- s = 0:    causal attention of the local q on the local kv (within the local concatenation
            this IS the global causal mask, because chunk r precedes chunk 2W-1-r);
- src < r:  all local queries see the first half of the block (chunk src), no mask;
- src > r:  only the second half of the queries (chunk 2W-1-r) sees the whole block, no mask.

Forward merges per-block results with log-sum-exp in fp32. Backward recomputes each block with the
global LSE (P = exp(S - lse), dS = P * (dP - D), D = rowsum(dO * O)) and sends the block's dK/dV
accumulator along with it, so after W hops every accumulator is back at its owner.

KV heads travel BEFORE the GQA expansion: blocks are (B, Hkv, L, D) and queries are viewed as
(B, Hkv, G, L, D) with G = H / Hkv, so ring traffic is Hkv/H of the expanded size.
Per-block kernel: torch's CPU flash kernel (`_scaled_dot_product_flash_attention_for_cpu`, which
returns (out, lse); its backward takes the global out / lse) or plain math tiled over queries.
No row is ever fully masked in this schedule (the diagonal block is causal, the others are
unmasked), so the CPU kernel's "LSE 0 for an empty row" never arises.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

_MAX_SCORE_ELEMENTS = 1 << 25  # fp32 score tile of at most 128 MiB


# -- per-block kernels (grouped layout: q (B, Hkv, G, Lq, D), k/v (B, Hkv, Lk, D)) --------------
# "flash_cpu": torch's CPU flash kernel (linear memory, ~10x faster than the math version); it
# returns LSE 0 for a fully masked row, which this schedule never produces (see docstring).
# "math": plain matmul + softmax tiled over queries; any device, used where no kernel applies.
BLOCK_KERNEL = "auto"  # "auto" | "flash_cpu" | "math"


def _kernel(q: torch.Tensor) -> str:
    if BLOCK_KERNEL != "auto":
        return BLOCK_KERNEL
    has_flash = hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu")
    return "flash_cpu" if q.device.type == "cpu" and has_flash else "math"


def _tiles(q: torch.Tensor, lk: int):
    b, hkv, g, lq, _ = q.shape
    step = max(1, min(lq, _MAX_SCORE_ELEMENTS // max(1, b * hkv * g * lk)))
    return [(i, min(i + step, lq)) for i in range(0, lq, step)]


def _scores(q_tile, k, scale, causal, row0):
    s = torch.matmul(q_tile, k.unsqueeze(2).transpose(-1, -2)) * scale  # (B, Hkv, G, t, Lk)
    if causal:
        rows = torch.arange(row0, row0 + q_tile.shape[-2], device=q_tile.device)[:, None]
        cols = torch.arange(k.shape[-2], device=q_tile.device)[None, :]
        s = s.masked_fill(cols > rows, float("-inf"))
    return s


def _flat(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Grouped -> (B, H, L, D) with each KV head repeated for its G query heads (local only)."""
    b, hkv, g, lq, d = q.shape
    return q.reshape(b, hkv * g, lq, d), k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)


def block_forward(q, k, v, scale: float, causal: bool):
    """Attention of q on one kv block: out (B, Hkv, G, Lq, D) and lse (B, Hkv, G, Lq).

    Inputs are already in the accumulation dtype (fp32, or fp64 for exactness tests).
    """
    if _kernel(q) == "flash_cpu":
        qf, kf, vf = _flat(q, k, v)
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(qf, kf, vf, 0.0, causal, scale=scale)
        return out.view(q.shape), lse.view(q.shape[:-1])
    out = torch.empty_like(q)
    lse = torch.empty(q.shape[:-1], dtype=q.dtype, device=q.device)
    for i, j in _tiles(q, k.shape[-2]):
        s = _scores(q[..., i:j, :], k, scale, causal, i)
        lse[..., i:j] = torch.logsumexp(s, dim=-1)
        out[..., i:j, :] = torch.matmul(torch.exp(s - lse[..., i:j, None]), v.unsqueeze(2))
    return out, lse


def block_backward(do, q, k, v, out, lse, scale: float, causal: bool):
    """Gradients of one block's contribution, given the GLOBAL out and lse of these query rows."""
    if _kernel(q) == "flash_cpu":
        b, hkv, g, lq, d = q.shape
        qf, kf, vf = _flat(q, k, v)
        dq, dk, dv = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            do.reshape(qf.shape),
            qf,
            kf,
            vf,
            out.reshape(qf.shape),
            lse.reshape(qf.shape[:-1]),
            0.0,
            causal,
            scale=scale,
        )
        fold = (b, hkv, g, k.shape[-2], d)  # sum the G query heads' grads into their KV head
        return dq.view(q.shape), dk.view(fold).sum(2), dv.view(fold).sum(2)
    delta = (do * out).sum(-1)  # (B, Hkv, G, Lq): D = rowsum(dO * O)
    dq = torch.empty_like(q)
    dk = torch.zeros_like(k)
    dv = torch.zeros_like(v)
    for i, j in _tiles(q, k.shape[-2]):
        p = torch.exp(_scores(q[..., i:j, :], k, scale, causal, i) - lse[..., i:j, None])  # (B,Hkv,G,t,Lk)
        do_t = do[..., i:j, :]
        dv += torch.matmul(p.transpose(-1, -2), do_t).sum(2)  # sum over the G query heads of a KV head
        dp = torch.matmul(do_t, v.unsqueeze(2).transpose(-1, -2))
        ds = p * (dp - delta[..., i:j, None])
        dq[..., i:j, :] = torch.matmul(ds, k.unsqueeze(2)) * scale
        dk += torch.matmul(ds.transpose(-1, -2), q[..., i:j, :]).sum(2) * scale
    return dq, dk, dv


def _merge(out, lse, block_out, block_lse, rows: slice):
    """Online-softmax merge of a block result into rows `rows` of (out, lse), in place."""
    old_lse = lse[..., rows]
    new_lse = torch.logaddexp(old_lse, block_lse)
    out[..., rows, :] = (
        out[..., rows, :] * torch.exp(old_lse - new_lse)[..., None]
        + block_out * torch.exp(block_lse - new_lse)[..., None]
    )
    lse[..., rows] = new_lse


# -- ring communication -------------------------------------------------------------------------
class _Ring:
    """Send to the next rank and receive from the previous one within `group`."""

    def __init__(self, group):
        self.group = group
        self.world = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.next = (
            dist.get_global_rank(group, (self.rank + 1) % self.world)
            if group is not None
            else (self.rank + 1) % self.world
        )
        self.prev = (
            dist.get_global_rank(group, (self.rank - 1) % self.world)
            if group is not None
            else (self.rank - 1) % self.world
        )

    def start(self, tensor: torch.Tensor):
        """Start sending `tensor` on; returns (receive buffer, requests)."""
        buffer = torch.empty_like(tensor)
        ops = [
            dist.P2POp(dist.isend, tensor.contiguous(), self.next, self.group),
            dist.P2POp(dist.irecv, buffer, self.prev, self.group),
        ]
        return buffer, dist.batch_isend_irecv(ops)

    @staticmethod
    def wait(requests) -> None:
        for req in requests:
            req.wait()


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _block_plan(step: int, rank: int, world: int, half: int):
    """(query rows, key columns, causal) of ring step `step` on `rank` (see module docstring)."""
    src = (rank - step) % world
    if step == 0:
        return slice(None), slice(None), True
    if src < rank:
        return slice(None), slice(0, half), False
    return slice(half, None), slice(None), False


class ZigzagRingAttention(torch.autograd.Function):
    """q (B, H, 2c, D), k/v (B, Hkv, 2c, D) local zigzag shards -> out (B, H, 2c, D)."""

    @staticmethod
    def forward(ctx, q, k, v, scale: float, group):
        with torch.autocast(q.device.type, enabled=False):  # the block math stays fp32 under bf16 autocast
            return ZigzagRingAttention._forward(ctx, q, k, v, scale, group)

    @staticmethod
    def _forward(ctx, q, k, v, scale: float, group):
        ring = _Ring(group)
        b, h, length, d = q.shape
        hkv = k.shape[1]
        acc = _acc(q.dtype)
        qg = q.view(b, hkv, h // hkv, length, d).to(acc)  # (B, Hkv, G, 2c, D)
        out = torch.zeros_like(qg)
        lse = torch.full(qg.shape[:-1], float("-inf"), dtype=acc, device=q.device)
        kv = torch.stack([k, v])  # (2, B, Hkv, 2c, D): one message per hop
        for step in range(ring.world):
            pending = ring.start(kv) if step < ring.world - 1 else None
            rows, cols, causal = _block_plan(step, ring.rank, ring.world, length // 2)
            kb, vb = kv[0, :, :, cols].to(acc), kv[1, :, :, cols].to(acc)
            block_out, block_lse = block_forward(qg[..., rows, :], kb, vb, scale, causal)
            _merge(out, lse, block_out, block_lse, rows)
            if pending is not None:
                _Ring.wait(pending[1])
                kv = pending[0]
        result = out.to(q.dtype).view(b, h, length, d)
        ctx.save_for_backward(q, k, v, result, lse)
        ctx.scale, ctx.group = scale, group
        return result

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast(grad_out.device.type, enabled=False):
            return ZigzagRingAttention._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        ring = _Ring(ctx.group)
        b, h, length, d = q.shape
        hkv = k.shape[1]
        grouped = (b, hkv, h // hkv, length, d)
        acc = _acc(q.dtype)
        qg = q.view(grouped).to(acc)
        do = grad_out.reshape(grouped).to(acc)
        outg = out.view(grouped).to(acc)
        dq = torch.zeros(grouped, dtype=acc, device=q.device)
        kv = torch.stack([k, v])
        dkv = torch.zeros(kv.shape, dtype=acc, device=k.device)  # travels with its kv
        for step in range(ring.world):
            pending = ring.start(kv) if step < ring.world - 1 else None
            rows, cols, causal = _block_plan(step, ring.rank, ring.world, length // 2)
            kb, vb = kv[0, :, :, cols].to(acc), kv[1, :, :, cols].to(acc)
            dq_b, dk_b, dv_b = block_backward(
                do[..., rows, :], qg[..., rows, :], kb, vb, outg[..., rows, :], lse[..., rows], ctx.scale, causal
            )
            dq[..., rows, :] += dq_b
            dkv[0, :, :, cols] += dk_b
            dkv[1, :, :, cols] += dv_b
            if ring.world > 1:  # pass the accumulator on; after W hops it is home again
                received, reqs = ring.start(dkv)
                _Ring.wait(reqs)
                dkv = received
            if pending is not None:
                _Ring.wait(pending[1])
                kv = pending[0]
        dq = dq.view(b, h, length, d).to(q.dtype)
        return dq, dkv[0].to(k.dtype), dkv[1].to(v.dtype), None, None


def zigzag_ring_attention(q, k, v, group=None, scale: float | None = None) -> torch.Tensor:
    """Causal attention over the zigzag-sharded global sequence; see the module docstring.

    q (B, H, 2c, D), k/v (B, Hkv, 2c, D) with H a multiple of Hkv -> (B, H, 2c, D).
    """
    if q.shape[2] % 2:
        raise ValueError(f"zigzag ring attention needs an even local length (2 chunks), got {q.shape[2]}")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"query heads {q.shape[1]} are not a multiple of kv heads {k.shape[1]}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return ZigzagRingAttention.apply(q, k, v, scale, group)
