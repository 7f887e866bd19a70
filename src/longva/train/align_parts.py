"""Which parts of a LongVA model train in an alignment stage, at which LR, with which loss.

Parts follow the original's `mm_tunable_parts`: `projector` (mm_mlp_adapter), `vision_tower`
(mm_vision_tower) and `language_model` (mm_language_model). AnyRes' learned `image_newline`
trains with the projector (as in LLaVA-NeXT, where it belongs to the adapter). Optimizer groups
mirror `LLaVATrainer.create_optimizer`: vision-tower parameters get `vision_tower_lr`, projector
parameters `projector_lr` (when set); everything else the base LR.
"""

from __future__ import annotations

import torch

from longva.errors import ConfigError
from longva.model.prompt import IGNORE_INDEX
from longva.train.optim import make_param_groups

TUNABLE_PARTS = ("projector", "vision_tower", "language_model")


def check_parts(parts: list[str], where: str = "tunable_parts") -> None:
    bad = [p for p in parts if p not in TUNABLE_PARTS]
    if bad or not parts:
        raise ConfigError(f"{where}: {bad or 'empty'}; accepted: {', '.join(TUNABLE_PARTS)}")


def unused_tower_modules(tower) -> list[torch.nn.Module]:
    """Tower modules the forward never runs: layers after `select_layer`, post-norm, pooling head.

    They get no gradient, so AdamW would keep no state for them and a resumed run could not
    match its checkpoint's optimizer state; they stay frozen (and unchanged) instead.
    """
    return tower.unused_modules()  # each tower family knows what its forward skips


def set_tunable_parts(model, parts: list[str]) -> None:
    """`requires_grad` True exactly for the parameters of `parts` (everything else frozen)."""
    check_parts(parts)
    modules = {"projector": model.projector, "vision_tower": model.vision_tower, "language_model": model.language_model}
    model.requires_grad_(False)
    for part in parts:
        modules[part].requires_grad_(True)
    for module in unused_tower_modules(model.vision_tower):
        module.requires_grad_(False)
    if model.image_newline is not None and "projector" in parts:
        model.image_newline.requires_grad_(True)  # AnyRes' learned separator trains with the projector


def align_param_groups(
    model, lr: float, weight_decay: float, vision_tower_lr: float | None = None, projector_lr: float | None = None
) -> list[dict]:
    """AdamW groups of the trainable parameters; tower/projector LRs only for parts that train."""
    trainable = {name.split(".", 1)[0] for name, p in model.named_parameters() if p.requires_grad}
    by_prefix = {}
    if vision_tower_lr is not None and "vision_tower" in trainable:
        by_prefix["vision_tower."] = vision_tower_lr
    if projector_lr is not None and "projector" in trainable:
        by_prefix["projector."] = projector_lr
    return make_param_groups(model.named_parameters(), lr, weight_decay, by_prefix or None)


def align_loss_fn(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainer's loss callable: (summed token loss, supervised token count) of a batch."""
    out = model(input_ids=batch["ids"], visuals=batch["visuals"], labels=batch["label_rows"])
    n = (out.labels[:, 1:] != IGNORE_INDEX).sum()  # next-token targets the mean loss was over
    return out.loss * n, n
