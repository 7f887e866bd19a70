"""AdamW with parameter groups: no weight decay on norms/biases, per-module learning rates.

Defaults follow the original long-context run (DeepSpeed AdamW: betas 0.9/0.95, eps 1e-8,
weight decay 0.1, LR 1e-5). `lr_by_prefix` gives modules their own LR (e.g. a projector at 1e-3
and the LM at 2e-5 in the alignment stage); parameters with `requires_grad=False` are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from longva.errors import ConfigError


@dataclass
class OptimizerConfig:
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0  # max global grad norm; null disables clipping
    lr_by_prefix: dict[str, float] = field(default_factory=dict)  # parameter-name prefix -> LR

    def validate(self, where: str = "optimizer") -> None:
        if self.lr <= 0:
            raise ConfigError(f"{where}.lr: must be > 0, got {self.lr}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"{where}.betas: each must be in [0, 1), got {list(self.betas)}")
        if self.weight_decay < 0 or self.eps <= 0:
            raise ConfigError(f"{where}: weight_decay must be >= 0 and eps > 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"{where}.grad_clip: must be > 0 or null, got {self.grad_clip}")


def _no_decay(name: str, param: torch.Tensor) -> bool:
    """Norm weights and biases (1-D tensors) are not decayed (standard for transformers)."""
    return param.ndim < 2 or name.endswith(".bias")


def make_param_groups(
    named_params: Iterable[tuple[str, torch.nn.Parameter]],
    lr: float,
    weight_decay: float,
    lr_by_prefix: dict[str, float] | None = None,
) -> list[dict]:
    """Groups keyed by (LR prefix, decay or not); each has `name`, `params`, `lr`, `weight_decay`.

    The longest matching prefix wins; unmatched parameters use `lr`. Group order is stable, so
    checkpoints map groups by position.
    """
    prefixes = sorted(lr_by_prefix or {}, key=len, reverse=True)
    groups: dict[tuple[str, bool], dict] = {}
    seen: set[int] = set()
    for name, param in named_params:
        if not param.requires_grad or id(param) in seen:  # tied weights appear once
            continue
        seen.add(id(param))
        prefix = next((p for p in prefixes if name.startswith(p)), "")
        no_decay = _no_decay(name, param)
        key = (prefix, no_decay)
        if key not in groups:
            groups[key] = {
                "name": f"{prefix or 'default'}{'/no_decay' if no_decay else ''}",
                "params": [],
                "lr": (lr_by_prefix or {}).get(prefix, lr),
                "weight_decay": 0.0 if no_decay else weight_decay,
            }
        groups[key]["params"].append(param)
    unused = [p for p in prefixes if not any(k[0] == p for k in groups)]
    if unused:
        raise ConfigError(f"optimizer.lr_by_prefix: no trainable parameter starts with {unused}")
    return list(groups.values())


def build_optimizer(param_groups: list[dict], cfg: OptimizerConfig) -> torch.optim.AdamW:
    """AdamW over `param_groups` (each group's own `lr` / `weight_decay` win over `cfg`)."""
    cfg.validate()
    if not any(g["params"] for g in param_groups):
        raise ConfigError("optimizer: no trainable parameters")
    return torch.optim.AdamW(
        param_groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
    )
