"""Answer prompts that share a visual prefix (several questions about one video) cheaply.

A prompt with visuals is split after its last `<image>` placeholder:

    [system, user header, <video tokens>] | [question text, template tail, answer...]
    \\------------ prefix: prefilled once ------------/  \\-- suffix: per prompt --/

The prefix's KV cache is kept and cropped back to the prefix before each prompt, so the second
and third questions about a video prefill only their own text. Every prompt's logits are
computed the same way whether its prefix was just prefilled or reused (prefix alone, then the
suffix from the prefix's end), so answers do not depend on the order prompts arrive in: the
lmms-eval plugin (one request at a time) and `longva eval videomme` (grouped by video) give
identical answers on the same frames.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

from longva.inference.generation import GenerationOutput, generate, prefill
from longva.inference.kv_state import KVState, record, spliced_length
from longva.model.compat import cache_kwargs, crop_cache
from longva.model.prompt import IMAGE_TOKEN_INDEX


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 1024
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    stop_strings: tuple[str, ...] = ()  # the answer is cut before the first one (lmms-eval `until`)


def visual_prompt_ids(processor, context: str, placeholders: int) -> torch.Tensor:
    """(1, L) ids of one user turn: `<image> <image>\\n{context}` as lmms-eval's LongVA wrapper.

    When the context already holds `<image>` placeholders it is used as it is.
    """
    token = processor.config.image_token
    text = context
    if placeholders and token not in context:
        text = " ".join([token] * placeholders) + "\n" + context
    return processor.encode_prompt([("user", text)])


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to the earliest stop string (exclusive)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def prefix_length(ids: list[int]) -> int:
    """Ids up to and including the last visual placeholder (0 without visuals)."""
    last = max((i for i, t in enumerate(ids) if t == IMAGE_TOKEN_INDEX), default=-1)
    return last + 1


class PrefixAnswerer:
    """Holds one visual prefix (features and KV cache); answers prompts that start with it."""

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor
        self.key: Hashable | None = None
        self.features: list[torch.Tensor] = []
        self.kv: KVState | None = None
        self.prefix_ids: list[int] = []

    def features_for(
        self, key: Hashable | None, make: Callable[[], list[torch.Tensor]]
    ) -> list[torch.Tensor]:
        """The visual features of `key`, computed by `make()` unless they are the ones held.

        key None: never reused (e.g. in-memory images that cannot be told apart cheaply).
        """
        if key is not None and key == self.key:
            return self.features
        features = make()
        self.key, self.features, self.kv, self.prefix_ids = key, features, None, []
        return features

    def generate(
        self, input_ids: torch.Tensor, features: list[torch.Tensor], settings: GenerationSettings
    ) -> GenerationOutput:
        """Answer the prompt (1, L); the answer text is cut at the settings' stop strings."""
        ids = [int(t) for t in input_ids.reshape(-1)]
        kv = self._kv_for(ids, features)
        out = generate(
            self.model,
            self.processor,
            input_ids,
            visual_features=features,
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            temperature=settings.temperature,
            top_p=settings.top_p,
            kv=kv,
        )
        out.text = cut_at_stop(out.text, settings.stop_strings)
        return out

    def loglikelihood(
        self, context_ids: torch.Tensor, continuation: list[int], features: list[torch.Tensor]
    ) -> tuple[float, bool]:
        """(-sum log p(continuation | context), whether greedy decoding gives the continuation)."""
        if not continuation:
            return 0.0, True
        ids = [int(t) for t in context_ids.reshape(-1)]
        kv = self._kv_for(ids, features) or _fresh_state(self.model)
        with torch.inference_mode():
            embeds, _, _ = self.model.splice(
                torch.tensor([ids + continuation]), features
            )  # (1, L', D)
            n = len(continuation)
            start = kv.cached_len
            last = prefill(self.model, embeds[:, : embeds.shape[1] - n], kv.cache, start)  # (V,)
            logits = [last[None]]
            if n > 1:
                logits.append(
                    _forward_logits(self.model, embeds[:, -n:-1], kv.cache, embeds.shape[1] - n)
                )
            logits = torch.cat(logits).float()  # (n, V): row j predicts continuation[j]
        record(kv, ids + continuation[:-1], features, [])
        targets = torch.tensor(continuation, device=logits.device)
        logprobs = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
        greedy = bool((logits.argmax(dim=-1) == targets).all())
        return -float(logprobs.sum()), greedy

    # ---- the prefix's KV cache -------------------------------------------------------------------

    def _kv_for(self, ids: list[int], features: list[torch.Tensor]) -> KVState | None:
        """A KV state holding exactly this prompt's visual prefix (None: no visuals)."""
        cut = prefix_length(ids)
        if cut == 0 or cut == len(ids):  # no visuals, or nothing after them to prefill
            return None
        prefix = ids[:cut]
        held = self.kv is not None and self.kv.cache is not None and self.prefix_ids == prefix
        if (
            held
            and len(self.kv.features) == len(features)
            and all(a is b for a, b in zip(self.kv.features, features))
        ):
            _rewind(self.kv, prefix, features)
            return self.kv
        self.kv, self.prefix_ids = self._prefill_prefix(prefix, features), prefix
        return self.kv

    def _prefill_prefix(self, prefix: list[int], features: list[torch.Tensor]) -> KVState:
        kv = _fresh_state(self.model)
        with torch.inference_mode():
            embeds, _, _ = self.model.splice(torch.tensor([prefix]), features)  # (1, P, D)
            prefill(self.model, embeds, kv.cache, 0)
        record(kv, prefix, features, [])
        return kv


def _fresh_state(model) -> KVState:
    kv = KVState()
    kv.reset(model.language_model.config)
    return kv


def _rewind(kv: KVState, prefix: list[int], features: list[torch.Tensor]) -> None:
    """Crop the cache back to the prefix (what later prompts appended is dropped)."""
    length = spliced_length(prefix, features)
    crop_cache(kv.cache, length)
    kv.ids, kv.features, kv.cached_len = list(prefix), list(features), length


def _forward_logits(model, embeds: torch.Tensor, cache, position: int) -> torch.Tensor:
    """embeds (1, n, D) at positions [position, position + n) -> logits (n, V) of every position."""
    decoder = model.language_model.get_decoder()
    n = embeds.shape[1]
    positions = torch.arange(position, position + n, device=embeds.device)[None]  # (1, n)
    out = model(
        inputs_embeds=embeds,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=n,
        **cache_kwargs(decoder, cache),
    )
    return out.logits[0]
