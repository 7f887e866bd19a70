"""Causal attention for chunked prefill on CPU, without a materialised mask.

A chunk of Q queries at the end of K cached keys needs a *lower-right* causal mask. PyTorch's
`is_causal` is top-left aligned when Q != K, so transformers builds a (Q, K) boolean mask, and
on CPU SDPA then converts it to an additive float mask and runs its masked kernel: at 16K
context about half the prefill time went to `aten::where` and the masked path.

The same result, exactly, from two unmasked flash calls merged by their log-sum-exps:
- the chunk against the K - Q earlier keys: every key visible, no mask;
- the chunk against itself: square, so top-left `is_causal` is the right mask.
GQA stays cheap: for the first part the query heads sharing a KV head are folded into the
query axis (no repeated keys); only the chunk's own Q keys are repeated for the second.

Registered as a transformers attention implementation that has no mask function, so
transformers skips mask creation; `lower_right_causal(lm)` switches an LM to it for the
duration of a `with` block, only on CPU, for full-attention models (no sliding window, no
padding), which is exactly the NIAH evaluator's case.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

NAME = "longva_niah_lower_right_causal"
_FLASH = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float | None):
    """(out (B, H, Q, d), logsumexp (B, H, Q) fp32) of one flash call."""
    out, lse = _FLASH(q, k, v, 0.0, causal, scale=scale)[:2]
    return out, lse.float()


def lower_right_causal_attention(
    module, query, key, value, attention_mask=None, dropout=0.0, scaling=None, **kwargs
):
    """query (B, H, Q, d) = the last Q positions; key/value (B, Hkv, K, d). -> ((B, Q, H, d), None)."""
    b, h, q_len, d = query.shape
    hkv, k_len = key.shape[1], key.shape[2]
    groups, past = h // hkv, k_len - q_len
    own_k = key[:, :, past:].repeat_interleave(groups, dim=1)  # (B, H, Q, d)
    own_v = value[:, :, past:].repeat_interleave(groups, dim=1)
    out, lse = _attend(query, own_k, own_v, True, scaling)
    if past > 0:
        folded = query.reshape(b, hkv, groups * q_len, d)  # heads sharing a KV head, side by side
        o_past, l_past = _attend(folded, key[:, :, :past], value[:, :, :past], False, scaling)
        o_past, l_past = o_past.reshape(b, h, q_len, d), l_past.reshape(b, h, q_len)
        top = torch.maximum(lse, l_past)
        w_own, w_past = (lse - top).exp()[..., None], (l_past - top).exp()[..., None]
        out = ((out.float() * w_own + o_past.float() * w_past) / (w_own + w_past)).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, lower_right_causal_attention)


def supported(lm: torch.nn.Module) -> bool:
    """CPU, the flash op exists, every layer is full attention, and the LM uses sdpa/eager."""
    config = lm.config
    param = next(lm.parameters())
    full = all(
        t == "full_attention" for t in getattr(config, "layer_types", None) or ["full_attention"]
    )
    return (
        _FLASH is not None
        and param.device.type == "cpu"
        and full
        and not getattr(config, "use_sliding_window", False)
        and config._attn_implementation in ("sdpa", "eager")
    )


@contextmanager
def lower_right_causal(lm: torch.nn.Module, enabled: bool = True):
    """Run `lm` with `lower_right_causal_attention` inside the block (when supported)."""
    if not (enabled and supported(lm)):
        yield False
        return
    _register()
    config = lm.config
    previous = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield True
    finally:
        config._attn_implementation = previous
