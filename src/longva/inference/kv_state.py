"""A KV cache kept between chat turns, and how much of it a new prompt can reuse.

Turn 2 of a chat about a long video starts with turn 1's whole prompt (system, video, question)
and answer, so re-prefilling it would repeat the most expensive work. `KVState` remembers what
its cache holds as pre-splice ids (IMAGE_TOKEN_INDEX at each placeholder) plus the visual
feature tensors behind the placeholders. A new prompt reuses the cache up to the first id that
differs, or the first placeholder whose features are not the very same tensor; the cache is
cropped there and only the rest is prefilled. Correct for any prompt (a branch from an older
history just reuses less), because ids and cache are always updated together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from longva.model.compat import crop_cache, new_cache
from longva.model.prompt import IMAGE_TOKEN_INDEX


@dataclass
class KVState:
    cache: object | None = None  # a transformers DynamicCache, or None before the first use
    ids: list[int] = field(default_factory=list)  # pre-splice ids whose embeddings are cached
    features: list[torch.Tensor] = field(default_factory=list)  # behind the cached placeholders
    cached_len: int = 0  # spliced positions in the cache

    def reset(self, lm_config) -> None:
        self.cache, self.ids, self.features, self.cached_len = new_cache(lm_config), [], [], 0


def spliced_length(ids: list[int], features: list[torch.Tensor]) -> int:
    """Positions after splicing: 1 per text id, features[k].shape[0] for the k-th placeholder."""
    n_text = sum(1 for t in ids if t != IMAGE_TOKEN_INDEX)
    return n_text + sum(int(f.shape[0]) for f in features[: len(ids) - n_text])


def reusable_prefix(state: KVState, ids: list[int], features: list[torch.Tensor]) -> int:
    """Spliced positions of the cache that equal the start of (ids, features)."""
    n_ids, n_vis = 0, 0
    for old, new in zip(state.ids, ids):
        if old != new:
            break
        if new == IMAGE_TOKEN_INDEX:
            if n_vis >= len(features) or n_vis >= len(state.features) or features[n_vis] is not state.features[n_vis]:
                break
            n_vis += 1
        n_ids += 1
    return spliced_length(ids[:n_ids], features)


def prepare_cache(state: KVState, ids: list[int], features: list[torch.Tensor], total_len: int, lm_config) -> int:
    """Crop or create the cache for a new prompt; returns the position prefill starts from.

    At least one position is left to prefill: its logits choose the first new token.
    """
    if state.cache is None:
        state.reset(lm_config)
        return 0
    start = min(reusable_prefix(state, ids, features), total_len - 1, state.cached_len)
    crop_cache(state.cache, start)
    state.cached_len = start
    return start


def record(state: KVState, ids: list[int], features: list[torch.Tensor], fed_tokens: list[int]) -> None:
    """After a generation: the cache holds the prompt plus every token fed back in."""
    state.ids = list(ids) + list(fed_tokens)
    state.features = list(features)
    state.cached_len = spliced_length(ids, features) + len(fed_tokens)
