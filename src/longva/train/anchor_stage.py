"""Feature alignment of the projector to word embeddings (the recipe's S2a, before S2).

LLaVA's stage 1 trains the projector alone on image-caption pairs, so that visual tokens land
where the LM's words are before anything else trains. With a frozen LM whose only skill is
retrieving a word from filler text, the direct form of that stage is: the projected tokens of an
image should be the input embedding of the word that names it, and those of an image with
nothing to name should be what filler text is on average. Each image's target is therefore the
mean (frozen) input embedding of a set of token ids: one word for a named object, the whole
filler vocabulary for a frame of haystack; every visual token of the image is pulled to it.

    pixels (B, 3, S, S) --tower, projector, pooling--> (B, T, D) \\
                                                                    -- mean squared error
    target ids (B, K), mask (B, K) --mean embedding--> (B, 1, D) /

The loss is divided by the targets' mean square (a scale-free number to read; AdamW's steps do
not depend on it).
"""

from __future__ import annotations

import torch

from longva.train.align_parts import align_param_groups, set_tunable_parts
from longva.train.trainer import Trainer, TrainerConfig


def anchor_targets(model, target_ids: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """(B, K) ids and 0/1 mask -> (B, D): each row's mean input embedding over its ids."""
    embeddings = model.language_model.get_input_embeddings().weight.detach()
    mask = target_mask.to(embeddings.dtype)[..., None]  # (B, K, 1)
    return (embeddings[target_ids] * mask).sum(1) / mask.sum(1)


def anchor_loss_fn(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainer's loss callable: (relative squared error x B, B)."""
    features = model.encode_frames(batch["pixel_values"])  # (B, T, D)
    targets = anchor_targets(model, batch["target_ids"], batch["target_mask"])[:, None, :]  # (B, 1, D)
    loss = (features - targets).pow(2).mean() / targets.pow(2).mean()
    n = torch.tensor(features.shape[0])
    return loss * n, n


def with_anchor_loss(loss_fn, weight: float):
    """`loss_fn` plus `weight` x the anchoring loss on the batch's anchor frames (same dict: the
    anchor keys sit next to the other loss's keys), counted per supervised unit of `loss_fn`."""

    def combined(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        total, n = loss_fn(model, batch)
        anchor_sum, m = anchor_loss_fn(model, batch)
        return total + weight * (anchor_sum / m) * n, n

    return combined


def anchor_trainer(model, batches, train: TrainerConfig, run_config: dict) -> Trainer:
    """THE projector-anchoring trainer: only the projector trains; tower and LM stay frozen."""
    set_tunable_parts(model, ["projector"])
    opt = train.optimizer
    groups = align_param_groups(model, opt.lr, opt.weight_decay)
    return Trainer(model, anchor_loss_fn, batches, groups, train, run_config=run_config)
