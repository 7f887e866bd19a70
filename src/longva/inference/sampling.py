"""Choose the next token from logits: greedy, or temperature + top-p (nucleus) sampling."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from longva.errors import InputError


@dataclass(frozen=True)
class SamplingParams:
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0

    def validate(self) -> SamplingParams:
        if self.do_sample and not self.temperature > 0:
            raise InputError(
                f"temperature={self.temperature} with sampling; expected a temperature > 0 (or greedy decoding)"
            )
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p={self.top_p}; expected 0 < top_p <= 1")
        return self


def make_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A private RNG so a seeded call is reproducible whatever else uses the global one."""
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def next_token(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None) -> int:
    """logits (V,) -> a token id."""
    logits = logits.float()
    if not params.do_sample:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)  # (V,)
    if params.top_p < 1.0:
        probs = top_p_filter(probs, params.top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (always >= 1 token)."""
    sorted_probs, order = torch.sort(probs, descending=True)  # (V,), (V,)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs = torch.where(mass_before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
    kept = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return kept / kept.sum()
