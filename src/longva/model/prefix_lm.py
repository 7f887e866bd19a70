"""Prefix-LM attention: every visual token attends to every visual token of its row, earlier or
later; text stays causal (`LongVAConfig.attention = "prefix_lm"`). Text between two images
keeps its causal view, and frame markers of an interleaved prompt are text.

The mask goes to the LM as a 4D ADDITIVE float mask (0 = attend, dtype min = blocked), which
transformers 5 uses as given on the SDPA and the eager path alike (a boolean 4D mask means
"True = attend" to SDPA only; eager adds it as 0/1 and masks nothing).

    visual (B, K): True at visual positions; queries are positions [start, K) (a chunk after a
    KV cache of `start` tokens), keys [0, K):
    allowed[b, i, j] = key j is a real token and (j <= i or visual[b, i] and visual[b, j])
"""

from __future__ import annotations

import torch


def prefix_lm_mask(
    visual: torch.Tensor, padding: torch.Tensor | None, dtype: torch.dtype, start: int = 0
) -> torch.Tensor:
    """(B, K) visual flags (+ (B, K) 1/0 padding) -> (B, 1, K - start, K) additive mask."""
    keys = visual.shape[1]
    rows = torch.arange(start, keys, device=visual.device)[:, None]
    causal = torch.arange(keys, device=visual.device)[None, :] <= rows  # (Q, K)
    both_visual = visual[:, start:, None] & visual[:, None, :]  # (B, Q, K)
    allowed = causal[None] | both_visual
    if padding is not None:
        allowed = allowed & padding.bool()[:, None, :]
    mask = torch.zeros(allowed.shape, dtype=dtype, device=visual.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def visual_flags(pieces: list[list[tuple[int, bool]]], length: int, device=None) -> torch.Tensor:
    """Per row, its pieces (n tokens, is_visual) in order -> (B, length) visual flags (padding False)."""
    flags = torch.zeros(len(pieces), length, dtype=torch.bool, device=device)
    for b, row in enumerate(pieces):
        at = 0
        for n, visual in row:
            flags[b, at : at + n] = visual
            at += n
    return flags
