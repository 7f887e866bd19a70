"""A multi-turn conversation: the turns, the visual features they refer to, a reusable KV cache.

The visuals of earlier turns stay with the history as their encoded features (tokens, D): a
follow-up question about the same video neither re-reads nor re-encodes it, and its `<image>`
placeholders stay where they were in the prompt. Memory: about F * tokens_per_frame * D values
per video (2 GB in bf16 for 2000 frames of LongVA-7B), plus the KV cache when it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from longva.inference.kv_state import KVState


@dataclass(frozen=True)
class Turn:
    question: str  # the user message exactly as rendered, with its <image> placeholders
    answer: str
    sources: tuple[str, ...] = ()  # descriptions of the visuals this turn added


@dataclass(frozen=True)
class ChatHistory:
    turns: tuple[Turn, ...] = ()
    features: tuple[torch.Tensor, ...] = ()  # (tokens, D) per placeholder of all turns, in order
    system: str | None = None  # None: the template's default system message
    kv: KVState | None = field(default=None, compare=False, repr=False)  # shared by successors

    def messages(self) -> list[tuple[str, str]]:
        """[(role, text)] of all turns, as the processor renders them."""
        out: list[tuple[str, str]] = []
        for turn in self.turns:
            out += [("user", turn.question), ("assistant", turn.answer)]
        return out

    def then(self, turn: Turn, new_features: list[torch.Tensor], kv: KVState | None) -> ChatHistory:
        """A new history one turn longer (this one is left as it was)."""
        return ChatHistory(self.turns + (turn,), self.features + tuple(new_features), self.system, kv)

    def forget_cache(self) -> None:
        """Free the KV cache kept for the next turn (it is rebuilt by prefilling when needed)."""
        if self.kv is not None:
            self.kv.cache = None
