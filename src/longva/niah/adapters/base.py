"""The one small interface every video LMM goes through in V-NIAH.

An adapter hands the evaluator three things and nothing model-specific leaks past it:
1. frames -> visual embeddings: `encode_units(frames)` turns `n * frames_per_unit` RGB frames
   (H, W, 3) uint8 into (n, tokens_per_unit, D) LM-space rows, with the model's own frame
   preprocessing, pooling and vision path. A *unit* is what the model encodes independently: a
   frame, or a temporal patch of two frames for Qwen2-VL. Units are what the embedding cache
   stores and what the haystack is cut into.
2. prompt -> embedded runs with the right positions: `prompt` (the chat template around the
   video, as token ids, plus rows the model appends after a video such as LLaVA-OneVision's
   newline), `question_ids(text)` and `embed_text(ids)`; `position_fn(sources)` gives M-RoPE
   position ids for a cell's runs (None: plain 0..L-1).
3. the LM body for prefill: `lm`, a causal LM with `get_decoder()` (the body the evaluator
   prefills through in chunks), `config` (its text config: KV cache, attention switch) and
   `forward(inputs_embeds, position_ids, cache, logits_to_keep)`.

`full_forward(pieces)` is the yardstick: the model's own `forward` on raw inputs (token ids with
its video placeholders + pixel values), as a user of the model would call it;
`native_inputs(pieces)` (transformers families) gives those inputs, for `forward` or `generate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch

from longva.niah.evaluator import PositionFn
from longva.niah.sequence import EmbedFn, Source


@dataclass(frozen=True)
class VideoPrompt:
    """The chat template around one video: pre + video + tail + question + post.

    pre_ids: everything before the first visual token (system prompt, user header, and for
    Qwen2-VL `<|vision_start|>`); tail: (n, D) rows the model itself appends after a video's
    frames (LLaVA-OneVision's newline), or None; mid: template text between the video and the
    question (prepended to every question); post_ids: the rest up to the answer.
    """

    pre_ids: tuple[int, ...]
    post_ids: tuple[int, ...]
    mid: str = ""
    tail: torch.Tensor | None = None


@dataclass(frozen=True)
class VideoPiece:
    """A video in a raw prompt: its frames (units * frames_per_unit) and its token count."""

    frames: tuple
    tokens: int


Piece = Sequence[int] | VideoPiece  # token ids, or a video


@dataclass
class VideoAdapter:
    family: str
    lm: torch.nn.Module
    embed_text: EmbedFn  # ids (L,) -> (L, D)
    encode_units: Callable[[list[np.ndarray]], torch.Tensor]  # frames -> (n, tpu, D) on CPU
    frames_per_unit: int
    tokens_per_unit: int
    prompt: VideoPrompt
    tokenizer: object
    decode: Callable[[list[int]], str]
    stop_ids: tuple[int, ...]
    visual_key: dict  # what visual embeddings depend on (embedding-cache key)
    full_forward: Callable[[Sequence[Piece]], torch.Tensor]  # raw pieces -> (L, V) logits
    question_ids: Callable[[str], list[int]]
    position_fn: Callable[[Mapping[str, Source]], PositionFn | None] = field(
        default=lambda sources: None
    )
    fit_frames: Callable[[tuple[int, int]], None] = field(default=lambda hw: None)
    settings: dict = field(default_factory=dict)  # what results depend on besides weights
    native_inputs: Callable[[Sequence[Piece]], dict] | None = None  # kwargs of model(...)

    def unit_frames(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """A needle's frames padded to whole units (a still image is shown for one unit,
        repeated as Qwen2-VL's processors repeat an image over its temporal patch)."""
        frames = list(frames)
        pad = -len(frames) % self.frames_per_unit
        return frames + [frames[-1]] * pad


class TextLM(torch.nn.Module):
    """A VLM's text side seen as a causal LM: body (its text model) + LM head.

    `config` is the text config, so the KV cache and the evaluator's attention switch act on the
    module that runs the layers; positions may be (P, B, L) M-RoPE ids.
    """

    def __init__(self, body: torch.nn.Module, head: torch.nn.Module):
        super().__init__()
        self.body, self.head = body, head
        self.config = body.config

    def get_decoder(self) -> torch.nn.Module:
        return self.body

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.body.get_input_embeddings()

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        cache=None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
    ):
        out = self.body(
            inputs_embeds=inputs_embeds, position_ids=position_ids, cache=cache, use_cache=use_cache
        )
        hidden = out.last_hidden_state  # (B, L, D)
        keep = hidden[:, -logits_to_keep:] if logits_to_keep > 0 else hidden
        return SimpleNamespace(logits=self.head(keep), cache=cache)


def stop_ids_of(tokenizer, *extra: int | None) -> tuple[int, ...]:
    ids = {i for i in extra if i is not None}
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(tokenizer.eos_token_id)
    return tuple(sorted(ids))
