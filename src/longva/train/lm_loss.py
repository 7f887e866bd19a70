"""A causal LM wrapped as `batch -> (loss_sum, n_tokens)` with the chunked cross-entropy.

The wrapper is an nn.Module on purpose: under FSDP2 it is the root unit, so the LM head weight
is gathered while *its* forward runs, and the chunked loss can read it directly (outside a module
forward the weight would still be a shard). The LM's own head is never called, so the full
(B, L, V) logits never exist.
"""

from __future__ import annotations

import torch

from longva.model.loss import chunked_cross_entropy_sum


class CausalLMLoss(torch.nn.Module):
    def __init__(self, lm: torch.nn.Module, chunk_size: int = 4096):
        super().__init__()
        self.lm = lm
        self.chunk_size = chunk_size

    def forward(self, labels: torch.Tensor, input_ids=None, position_ids=None, inputs_embeds=None, **_):
        # labels (B, L) shifted targets; input_ids (B, L); position_ids (B, L) global positions
        out = self.lm.base_model(
            input_ids=input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids, use_cache=False
        )
        hidden = out.last_hidden_state  # (B, L, H)
        weight = self.lm.get_output_embeddings().weight  # (V, H)
        return chunked_cross_entropy_sum(hidden, weight, labels, self.chunk_size)


def lm_loss_fn(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainer's loss callable for a `CausalLMLoss` model."""
    return model(**batch)
