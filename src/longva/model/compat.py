"""Small shims over transformers 5.x API drift (5.0 ... 5.2x).

- The KV-cache argument of `forward` is `cache=` from 5.24 on and `past_key_values=` before.
- `DynamicCache.crop(-n)` removes n tokens in every 4.x/5.x version (a positive argument meant
  "crop to this length" before 5.24 and is refused from 5.24 on).
"""

from __future__ import annotations

import inspect
from functools import cache

import torch
from transformers import DynamicCache


@cache
def _cache_kwarg_name(forward_fn) -> str:
    params = inspect.signature(forward_fn).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_kwargs(model: torch.nn.Module, cache) -> dict:
    """`{"cache": cache}` or `{"past_key_values": cache}`, whichever `model.forward` takes."""
    return {_cache_kwarg_name(type(model).forward): cache}


def new_cache(config=None) -> DynamicCache:
    try:
        return DynamicCache(config=config)
    except TypeError:  # very old signature
        return DynamicCache()


def output_cache(outputs):
    """The cache object returned by a forward (`cache` or `past_key_values`)."""
    for name in ("cache", "past_key_values"):
        value = getattr(outputs, name, None)
        if value is not None:
            return value
    return None


def crop_cache(cache: DynamicCache, keep_len: int) -> None:
    """Crop `cache` in place so that it holds exactly the first `keep_len` positions."""
    current = cache.get_seq_length()
    if keep_len > current:
        raise ValueError(f"cannot crop a cache of {current} tokens to {keep_len}")
    if keep_len < current:
        cache.crop(-(current - keep_len))
