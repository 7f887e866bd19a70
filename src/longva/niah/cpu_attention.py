"""Causal attention for chunked prefill, without a materialised mask (CPU and CUDA).

A chunk of Q queries at the end of K cached keys needs a *lower-right* causal mask. PyTorch's
`is_causal` is top-left aligned when Q != K, so transformers builds a (Q, K) boolean mask, and
on CPU SDPA then converts it to an additive float mask and runs its masked kernel: at 16K
context about half the prefill time went to `aten::where` and the masked path.

The same result, exactly, from two unmasked flash calls merged by their log-sum-exps:
- the chunk against the K - Q earlier keys: every key visible, no mask;
- the chunk against itself: square, so top-left `is_causal` is the right mask.
GQA stays cheap: for the first part the query heads sharing a KV head are folded into the
query axis (no repeated keys); only the chunk's own Q keys are repeated for the second.

On CUDA (fp16/bf16) the flash kernel's causal mask is already lower-right aligned and it reads
the KV heads unrepeated (GQA), so one `scaled_dot_product_attention` call with PyTorch's
`causal_lower_right` bias does it. transformers' own sdpa path instead builds the (Q, K) mask,
which sends SDPA to a masked kernel and repeats the KV heads (28 of them instead of 4 for
Qwen2-7B: 6 GB per layer call at 432K cached tokens).

Registered as a transformers attention implementation that has no mask function, so
transformers skips mask creation; `lower_right_causal(lm)` switches an LM to it for the
duration of a `with` block, on CPU or on a CUDA GPU with the flash kernel, for full-attention
models (no sliding window, no padding), which is exactly the NIAH evaluator's case.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

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
    if query.device.type != "cpu":
        return sdpa_lower_right(query, key, value, scaling).transpose(1, 2).contiguous(), None
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


def sdpa_lower_right(query, key, value, scale: float | None = None) -> torch.Tensor:
    """(B, H, Q, d) from query (B, H, Q, d), key/value (B, Hkv, K, d), lower-right causal.

    On CUDA PyTorch hands the `causal_lower_right` bias to the flash kernel (no mask built, KV
    heads not repeated); on CPU it materialises the mask (used by the tests only).
    """
    bias = causal_lower_right(query.shape[2], key.shape[2])
    gqa = query.shape[1] != key.shape[1]
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=bias, scale=scale, enable_gqa=gqa
    )


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, lower_right_causal_attention)


def supported(lm: torch.nn.Module) -> bool:
    """A flash kernel for the LM's device, every layer is full attention, the LM uses sdpa/eager."""
    config = lm.config
    param = next(lm.parameters())
    full = all(
        t == "full_attention" for t in getattr(config, "layer_types", None) or ["full_attention"]
    )
    return (
        _flash_kernel(param, config)
        and full
        and not getattr(config, "use_sliding_window", False)
        and config._attn_implementation in ("sdpa", "eager")
    )


def _flash_kernel(param: torch.Tensor, config) -> bool:
    """CPU: the flash op exists. CUDA: SDPA's flash kernel takes these inputs (fp16/bf16, Ampere
    or newer, head dim <= 256); elsewhere PyTorch would materialise the mask and repeat the KV
    heads itself, so transformers' own path is no worse."""
    if param.device.type == "cpu":
        return _FLASH is not None
    if param.device.type != "cuda" or param.dtype not in (torch.float16, torch.bfloat16):
        return False
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return (
        torch.backends.cuda.flash_sdp_enabled()
        and torch.cuda.get_device_capability(param.device) >= (8, 0)
        and head_dim <= 256
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
