"""Learning-rate schedules: a registry of step -> LR multiplier functions, wrapped in LambdaLR.

Step convention: step `s` (0-based) is the optimizer step whose update uses the LR; the first
update uses `factor(0)` and the last of `total_steps` updates uses `factor(total_steps - 1)`.
Decay schedules reach their final value exactly at the last step.

Warmup (any kind): steps `0 .. warmup_steps-1` ramp linearly as `(s+1)/warmup_steps`, so the last
warmup step reaches the peak; the decay then runs over the remaining steps.

A plugin adds a schedule with `@register_schedule("name")` on a function
`(cfg: LRScheduleConfig, span: ScheduleSpan) -> (s: int) -> float`, called for the absolute
steps after warmup; the returned multiplier is applied to each param group's own LR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from longva.errors import ConfigError

ScheduleFactory = Callable[["LRScheduleConfig", "ScheduleSpan"], Callable[[int], float]]
_SCHEDULES: dict[str, ScheduleFactory] = {}


def register_schedule(name: str) -> Callable[[ScheduleFactory], ScheduleFactory]:
    """Decorator adding a schedule factory under `name` (a later registration replaces it)."""

    def add(factory: ScheduleFactory) -> ScheduleFactory:
        _SCHEDULES[name] = factory
        return factory

    return add


def known_schedules() -> list[str]:
    return sorted(_SCHEDULES)


@dataclass
class LRScheduleConfig:
    """Which schedule and its knobs; only the knobs of the chosen `kind` are used."""

    kind: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine: final LR / peak LR
    final_lr_ratio: float | None = None  # linear (default 0.0) and exponential (default 0.1)
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # step: fractions of total
    gamma: float = 0.1  # step: multiplier at each milestone

    def validate(self, where: str = "lr_schedule") -> None:
        if self.kind not in _SCHEDULES:
            raise ConfigError(
                f"{where}.kind: unknown schedule {self.kind!r}; known: {', '.join(known_schedules())}"
            )
        if self.warmup_steps < 0:
            raise ConfigError(f"{where}.warmup_steps: must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"{where}.min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        if self.final_lr_ratio is not None and not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ConfigError(f"{where}.final_lr_ratio: must be in [0, 1], got {self.final_lr_ratio}")
        if any(not 0.0 <= m <= 1.0 for m in self.milestones):
            raise ConfigError(
                f"{where}.milestones: fractions of the total steps in [0, 1] expected, got {self.milestones}"
            )
        if self.gamma <= 0:
            raise ConfigError(f"{where}.gamma: must be > 0, got {self.gamma}")


@dataclass(frozen=True)
class ScheduleSpan:
    """Where the decay runs: absolute steps `warmup_steps .. total_steps-1`."""

    total_steps: int
    warmup_steps: int

    @property
    def decay_steps(self) -> int:
        """Transitions from the first post-warmup step to the last step (the decay's length)."""
        return max(self.total_steps - self.warmup_steps - 1, 0)

    def progress(self, s: int) -> float:
        """0.0 at the first post-warmup step, 1.0 at the last step."""
        return min(max(s - self.warmup_steps, 0) / max(self.decay_steps, 1), 1.0)


@register_schedule("constant")
def _constant(cfg: LRScheduleConfig, span: ScheduleSpan) -> Callable[[int], float]:
    return lambda s: 1.0


@register_schedule("linear")
def _linear(cfg: LRScheduleConfig, span: ScheduleSpan) -> Callable[[int], float]:
    final = 0.0 if cfg.final_lr_ratio is None else cfg.final_lr_ratio
    return lambda s: 1.0 + (final - 1.0) * span.progress(s)


@register_schedule("cosine")
def _cosine(cfg: LRScheduleConfig, span: ScheduleSpan) -> Callable[[int], float]:
    lo = cfg.min_lr_ratio
    return lambda s: lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * span.progress(s)))


@register_schedule("exponential")
def _exponential(cfg: LRScheduleConfig, span: ScheduleSpan) -> Callable[[int], float]:
    final = 0.1 if cfg.final_lr_ratio is None else cfg.final_lr_ratio
    if final == 0.0:
        raise ConfigError("lr_schedule.final_lr_ratio: exponential decay needs a ratio > 0, got 0")
    n = span.decay_steps
    gamma = final ** (1.0 / max(n, 1))  # per-step factor: reaches `final` exactly at the last step
    return lambda s: gamma ** min(max(s - span.warmup_steps, 0), n)


@register_schedule("step")
def _step(cfg: LRScheduleConfig, span: ScheduleSpan) -> Callable[[int], float]:
    bounds = sorted(round(m * span.total_steps) for m in cfg.milestones)  # absolute steps
    return lambda s: cfg.gamma ** sum(s >= b for b in bounds)


def factor_fn(cfg: LRScheduleConfig, total_steps: int) -> Callable[[int], float]:
    """The LR multiplier as a function of the absolute 0-based optimizer step."""
    cfg.validate()
    if total_steps < 1:
        raise ConfigError(f"train.steps: must be >= 1 to build an LR schedule, got {total_steps}")
    span = ScheduleSpan(total_steps, min(cfg.warmup_steps, total_steps))
    decay = _SCHEDULES[cfg.kind](cfg, span)
    warmup = span.warmup_steps

    def factor(s: int) -> float:
        return (s + 1) / warmup if s < warmup else float(decay(s))

    return factor


class ResumableLambdaLR(torch.optim.lr_scheduler.LambdaLR):
    """LambdaLR whose `load_state_dict` also puts the resumed LR into the optimizer.

    Plain LambdaLR only restores its counters and leaves the groups at their initial LR until the
    next `step()`, so the first resumed update would use the wrong LR.
    """

    def state_dict(self) -> dict:
        """Counters only (JSON-able): the LR functions are rebuilt from the config."""
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = {**state_dict, "lr_lambdas": [None] * len(self.lr_lambdas)}
        super().load_state_dict(state_dict)
        for group, base_lr, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base_lr * fn(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, cfg: LRScheduleConfig, total_steps: int
) -> ResumableLambdaLR:
    """A LambdaLR applying the schedule to every param group's own LR.

    Its `state_dict()` holds only counters (the lambda is rebuilt from the config), so loading it
    into a scheduler built from the same config resumes exactly.
    """
    return ResumableLambdaLR(optimizer, factor_fn(cfg, total_steps))
