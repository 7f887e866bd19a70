"""Chunked (low-memory) cross-entropy over the vocabulary.

The LM head's logits are the largest activation of long-context training: B·L·V floats (224K
tokens × 152K vocab = 34G floats for Qwen2-7B). `chunked_cross_entropy_sum` never builds them:
a custom autograd Function computes `logsumexp` per chunk of tokens in forward, keeps only its
inputs (hidden rows, head weight, labels) and the per-token LSE, and recomputes each chunk's
logits in backward to form d(logits) = exp(logits - lse) - onehot, which it immediately folds
into d(hidden) and d(weight).
Peak extra memory is one chunk of logits (chunk × V) instead of B·L·V.

Labels are already shifted targets (label[i] is the token after input[i]), as in the original
`low_mem_cross_ent`; positions labelled `ignore_index` are skipped (never computed).
Softmax math runs in fp32 (fp64 when the inputs are fp64); the matmuls run in the input dtype.

`next_token_loss` is the LongVA forward's loss (labels aligned with the inputs, answers only):
the same memory rule (one chunk of logits at a time, recomputed in backward) through activation
checkpointing of `F.cross_entropy`. It is not routed through the log-sum-exp form above because
the two round differently in the last bit, and a last-bit change in alignment training moves
the toy recipe's V-NIAH results (measured: 0.70 -> 0.77 for one seed), so each keeps the
arithmetic its stage was trained with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from longva.model.prompt import IGNORE_INDEX


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for half types, fp64 stays fp64 (exactness tests)."""
    return torch.promote_types(dtype, torch.float32)


class _ChunkedCrossEntropySum(torch.autograd.Function):
    """sum_i [logsumexp(h_i W^T) - (h_i W^T)[y_i]] over rows i, in chunks of rows."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size: int):
        # hidden (N, H), weight (V, H), targets (N,) with no ignored entries
        acc = _acc_dtype(hidden.dtype)
        lse = torch.empty(hidden.shape[0], dtype=acc, device=hidden.device)  # (N,): tiny, kept for backward
        total = torch.zeros((), dtype=acc, device=hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], chunk_size):
                rows = slice(start, start + chunk_size)
                logits = (hidden[rows] @ weight.T).to(acc)  # (n, V)
                lse[rows] = torch.logsumexp(logits, dim=-1)
                total += (lse[rows] - logits.gather(1, targets[rows, None])[:, 0]).sum()
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk_size = chunk_size
        return total

    @staticmethod
    def backward(ctx, grad_total):
        hidden, weight, targets, lse = ctx.saved_tensors
        acc = _acc_dtype(hidden.dtype)
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device) if ctx.needs_input_grad[1] else None
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], ctx.chunk_size):
                rows = slice(start, start + ctx.chunk_size)
                h = hidden[rows]  # (n, H)
                d_logits = (h @ weight.T).to(acc).sub_(lse[rows, None]).exp_()  # softmax, in place (n, V)
                d_logits[torch.arange(h.shape[0], device=h.device), targets[rows]] -= 1.0
                d_logits = d_logits.mul_(grad_total.to(acc)).to(hidden.dtype)
                if grad_hidden is not None:
                    grad_hidden[rows] = d_logits @ weight  # (n, H)
                if grad_weight is not None:
                    grad_weight += (d_logits.T @ h).to(acc)  # (V, H)
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None, None


def _matmul_inputs(hidden: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cast to one dtype as an `nn.Linear` would (autocast dtype when autocast is on)."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
    else:
        dtype = torch.promote_types(hidden.dtype, weight.dtype)
    return hidden.to(dtype), weight.to(dtype)


def chunked_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk_size: int = 4096,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of token losses, number of counted tokens) for `hidden @ weight.T` vs `labels`.

    hidden (B, L, H) final hidden states; weight (V, H) the LM head; labels (B, L) shifted targets.
    The sum + count form lets callers average over micro-batches and ranks exactly.
    """
    flat = hidden.reshape(-1, hidden.shape[-1])  # (B*L, H)
    flat_labels = labels.reshape(-1).to(flat.device)
    keep = (flat_labels != ignore_index).nonzero()[:, 0]  # only these rows cost any compute
    n_tokens = torch.tensor(keep.numel(), device=flat.device)
    rows, head = _matmul_inputs(flat.index_select(0, keep), weight)  # (N, H), (V, H)
    loss_sum = _ChunkedCrossEntropySum.apply(rows, head, flat_labels[keep], int(chunk_size))
    return loss_sum, n_tokens


def next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """Labels aligned with the inputs (label i is token i) -> shifted targets (label i is token
    i + 1, the convention of this module), the last position ignored. (B, L) -> (B, L)"""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE_INDEX)], dim=1)


def next_token_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk_size: int = 1024):
    """Mean next-token loss of labels aligned with the inputs (the LongVA forward's loss).

    hidden (B, L, H), weight (V, H), labels (B, L) with label i = token i. Only rows whose next
    token is labelled (for alignment data, the answers) reach the head, `chunk_size` rows at a
    time; each chunk's logits are recomputed in backward (activation checkpointing), so at most
    one chunk of logits is alive at once. The arithmetic is `F.cross_entropy`'s, chunk by chunk,
    not `chunked_cross_entropy`'s log-sum-exp form: the two round differently in the last bit,
    and the alignment stages trained so far (the recipe's numbers) were trained with this one.
    """
    targets = labels[:, 1:]  # (B, L-1) next-token targets
    mask = targets != IGNORE_INDEX
    if not bool(mask.any()):
        return hidden.sum() * 0.0
    rows = hidden[:, :-1][mask]  # (N, H)
    tgt = targets[mask]
    total = hidden.new_zeros((), dtype=torch.float32)
    for i in range(0, rows.shape[0], chunk_size):
        part = (rows[i : i + chunk_size], weight, tgt[i : i + chunk_size])
        total = total + checkpoint(_chunk_loss_sum, *part, use_reentrant=False)
    return total / tgt.numel()


def _chunk_loss_sum(rows: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = rows @ weight.T  # (c, V): recomputed in backward, never kept
    return F.cross_entropy(logits.float(), targets, reduction="sum")


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk_size: int = 4096,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Mean token loss over non-ignored labels (0 when every label is ignored)."""
    loss_sum, n_tokens = chunked_cross_entropy_sum(hidden, weight, labels, chunk_size, ignore_index)
    return loss_sum / n_tokens.clamp(min=1)
