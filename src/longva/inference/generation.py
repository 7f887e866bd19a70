"""Generate an answer from a prompt with visual placeholders: splice, prefill, decode.

    ids (1, L) with IMAGE_TOKEN_INDEX --splice visual features--> embeds (1, L', D)
    --prefill in chunks into a KV cache (logits of the last position only)--> first token
    --decode one token at a time (greedy or temperature/top-p)--> stop token or max_new_tokens

A small explicit loop rather than `transformers.generate`: it streams text pieces to a callback,
keeps the cache between chat turns (`KVState`) and never materialises (L' x vocab) logits, which
for a long video would be tens of GB.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from longva.errors import InputError
from longva.inference.kv_state import KVState, prepare_cache, record
from longva.inference.sampling import SamplingParams, make_generator, next_token
from longva.inference.streaming import IncrementalDetokenizer
from longva.model.compat import cache_kwargs
from longva.model.encoding import VisualInput

PREFILL_CHUNK = 2048  # positions per prefill forward: bounds activation memory on long videos


@dataclass
class GenerationOutput:
    text: str
    token_ids: list[int]  # generated ids, the stop token excluded
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int  # positions after splicing the visual tokens in
    visual_tokens: int  # of those, visual
    reused_tokens: int  # prompt positions taken from a kept KV cache (not prefilled again)
    timings: dict[str, float] = field(default_factory=dict)  # encode / prefill / generate seconds


def default_stop_ids(processor) -> list[int]:
    """The template's stop token (`<|im_end|>` for qwen_1_5) and the tokenizer's EOS."""
    ids = list(processor.stop_token_ids)
    eos = getattr(processor.tokenizer, "eos_token_id", None)
    if eos is not None and eos not in ids:
        ids.append(int(eos))
    return ids


def encode_visuals(model, visuals: Sequence[VisualInput]) -> list[torch.Tensor]:
    """Each VisualInput -> its (tokens, D) LM-space features (the vision tower runs in chunks)."""
    with torch.inference_mode():
        return model.encode_visuals(visuals)


def generate(
    model,
    processor,
    input_ids: torch.Tensor,
    visual_features: Sequence[torch.Tensor] | None = None,
    visuals: Sequence[VisualInput] | None = None,
    max_new_tokens: int = 1024,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop_token_ids: Sequence[int] | None = None,
    callback: Callable[[str], None] | None = None,
    seed: int | None = None,
    prefill_chunk: int = PREFILL_CHUNK,
    kv: KVState | None = None,
) -> GenerationOutput:
    """Answer the prompt `input_ids` (1, L); one visual per IMAGE_TOKEN_INDEX placeholder.

    visuals are encoded here; visual_features are precomputed (tokens, D) blocks (give one or
    the other). callback receives text pieces as they are generated; when it returns True,
    generation ends there with finish_reason "stop" (a server's stop strings). kv: a KVState
    to reuse between calls (multi-turn chat); a fresh cache is used when None.
    """
    if max_new_tokens < 0 or prefill_chunk < 1:
        raise InputError(f"max_new_tokens={max_new_tokens}, prefill_chunk={prefill_chunk}; expected >= 0 and >= 1")
    params = SamplingParams(do_sample, temperature, top_p).validate()
    stop = set(default_stop_ids(processor) if stop_token_ids is None else stop_token_ids)
    timings = {"encode": 0.0}
    if visuals:
        if visual_features:
            raise InputError("give visuals or visual_features, not both")
        t0 = time.perf_counter()
        visual_features = encode_visuals(model, visuals)
        timings["encode"] = time.perf_counter() - t0
    features = list(visual_features or [])
    ids = [int(t) for t in _one_row(input_ids)]
    kv = kv if kv is not None else KVState()
    try:
        with torch.inference_mode():
            return _run(
                model,
                processor,
                ids,
                features,
                kv,
                max_new_tokens,
                params,
                stop,
                callback,
                seed,
                prefill_chunk,
                timings,
            )
    except BaseException:
        kv.cache = None  # a half-filled cache must not be reused
        raise


def _one_row(input_ids) -> torch.Tensor:
    ids = torch.as_tensor(input_ids)
    if ids.dim() == 2 and ids.shape[0] == 1:
        return ids[0]
    if ids.dim() == 1:
        return ids
    raise InputError(f"input_ids has shape {tuple(ids.shape)}; expected one prompt (1, L)")


def _run(model, processor, ids, features, kv, max_new_tokens, params, stop, callback, seed, chunk, timings):
    t0 = time.perf_counter()
    embeds, _, _ = model.splice(torch.tensor([ids]), features)  # (1, L', D)
    total = embeds.shape[1]
    lm_config = model.language_model.config
    start = prepare_cache(kv, ids, features, total, lm_config)
    logits = prefill(model, embeds, kv.cache, start, chunk)  # (V,)
    timings["prefill"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    generator = make_generator(seed, logits.device)
    detok = IncrementalDetokenizer(processor.tokenizer)
    generated: list[int] = []
    finish, last_fed = "length", False
    for step in range(max_new_tokens):
        token = next_token(logits, params, generator)
        if token in stop:
            finish, last_fed = "stop", True
            break
        generated.append(token)
        if _emit(callback, detok.push(token)):  # the caller has seen enough (e.g. a stop string)
            finish = "stop"
            break
        if step + 1 < max_new_tokens:  # the last token's logits are never needed
            logits = decode_step(model, token, kv.cache, total + step)
    _emit(callback, detok.finish())
    fed = generated if last_fed else generated[:-1]  # every id whose KV is cached
    record(kv, ids, features, fed)
    timings["generate"] = time.perf_counter() - t0
    visual = sum(int(f.shape[0]) for f in features)
    return GenerationOutput(detok.text, generated, finish, total, visual, start, timings)


def _emit(callback, piece: str) -> bool:
    """Pass a non-empty piece on; True when the callback asks to stop generating."""
    return bool(callback is not None and piece and callback(piece))


def _lm_forward(model, embeds: torch.Tensor, cache, position: int) -> torch.Tensor:
    """embeds (1, n, D) at positions [position, position + n) -> last position's logits (V,)."""
    decoder = model.language_model.get_decoder()
    positions = torch.arange(position, position + embeds.shape[1], device=embeds.device)[None]  # (1, n)
    out = model(
        inputs_embeds=embeds, position_ids=positions, use_cache=True, logits_to_keep=1, **cache_kwargs(decoder, cache)
    )
    return out.logits[0, -1]


def prefill(model, embeds: torch.Tensor, cache, start: int, chunk: int = PREFILL_CHUNK) -> torch.Tensor:
    """Run embeds[:, start:] (1, L'-start, D) through the LM into `cache`; logits (V,) of the last."""
    logits = None
    for a in range(start, embeds.shape[1], chunk):
        logits = _lm_forward(model, embeds[:, a : a + chunk], cache, a)
    assert logits is not None, "prefill needs at least one position"
    return logits


def decode_step(model, token: int, cache, position: int) -> torch.Tensor:
    """Feed one token at `position`; logits (V,) for the next one."""
    embeds = model.embed_text(torch.tensor([[token]]))  # (1, 1, D)
    return _lm_forward(model, embeds, cache, position)
