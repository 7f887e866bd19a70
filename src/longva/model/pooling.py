"""Spatial pooling of one grid's visual tokens, applied AFTER the projector (as LongVA).

A grid's tokens arrive as (N, h*w, C) in row-major order; they are viewed as an h x w map,
pooled, and flattened back row-major. Registry: `avg` / `max` (kernel, stride; stride None means
stride = kernel, PyTorch's default and LongVA's `avg_pool2d(x, 2)`), `none`, and a target token
count (`tokens_per_grid = N`, which takes precedence over `kind`).

Target token counts: N is laid out as h x w with h * w = N and h/w as close to 1 as possible
(h = the largest divisor of N not above sqrt(N)): 256 -> 16x16, 512 -> 16x32, 1536 -> 32x48.
Smaller than the native map -> adaptive average pooling; larger -> bilinear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from longva.errors import ConfigError


@dataclass
class PoolingConfig:
    """Spatial pooling applied per grid AFTER the projector (as LongVA).

    `kind` avg/max with `kernel` and `stride` (stride None = kernel, PyTorch semantics), `none`,
    or a target token count: `tokens_per_grid = N` (adaptive average pooling when the h x w
    target is smaller than the native grid, bilinear interpolation when larger; a non-square N
    gets the factorisation h x w closest to square, h <= w).
    """

    kind: str = "avg"  # a key of longva.model.pooling.POOLING_REGISTRY
    kernel: int = 2
    stride: int | None = None
    tokens_per_grid: int | None = None

    def validate(self, where: str) -> None:
        if self.kind not in POOLING_REGISTRY:
            raise ConfigError(
                f"{where}.kind: unknown pooling {self.kind!r}; accepted: {', '.join(POOLING_REGISTRY)}"
            )
        if self.kernel < 1:
            raise ConfigError(f"{where}.kernel: must be >= 1, got {self.kernel}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"{where}.stride: must be >= 1, got {self.stride}")
        if self.tokens_per_grid is not None and self.tokens_per_grid < 1:
            raise ConfigError(f"{where}.tokens_per_grid: must be >= 1, got {self.tokens_per_grid}")



def factor_near_square(n: int) -> tuple[int, int]:
    """(h, w) with h * w = n, h <= w, h as large as possible (closest to square)."""
    h = int(math.isqrt(n))
    while n % h:
        h -= 1
    return h, n // h


class GridPooling(nn.Module):
    """Pools (N, h*w, C) -> (N, h'*w', C); `output_shape((h, w))` gives (h', w') without running."""

    def output_shape(self, grid: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    def pool_map(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, h, w) -> (N, C, h', w')
        raise NotImplementedError

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, tokens, channels = x.shape
        h, w = grid
        if tokens != h * w:
            raise ValueError(f"pooling got {tokens} tokens for a {h}x{w} grid")
        x = x.transpose(1, 2).reshape(n, channels, h, w)  # (N, C, h, w)
        x = self.pool_map(x)
        return x.flatten(2).transpose(1, 2).contiguous()  # (N, h'*w', C), row-major


class NoPooling(GridPooling):
    def output_shape(self, grid):
        return grid

    def forward(self, x, grid):
        return x


class WindowPooling(GridPooling):
    """avg / max pooling with a square kernel and stride (floor mode drops a ragged border)."""

    def __init__(self, kind: str, kernel: int, stride: int | None):
        super().__init__()
        self.kind, self.kernel, self.stride = kind, kernel, stride or kernel

    def output_shape(self, grid):
        h, w = grid
        if self.kernel > min(h, w):
            raise ConfigError(
                f"pooling.kernel: {self.kernel} is larger than the {h}x{w} token grid;"
                f" expected a kernel <= {min(h, w)}"
            )
        return ((h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1)

    def pool_map(self, x):
        fn = F.avg_pool2d if self.kind == "avg" else F.max_pool2d
        return fn(x, kernel_size=self.kernel, stride=self.stride)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, kernel={self.kernel}, stride={self.stride}"


class TokenCountPooling(GridPooling):
    """Resample a grid to exactly `tokens` tokens (adaptive avg pool down, bilinear up)."""

    def __init__(self, tokens: int):
        super().__init__()
        self.tokens = tokens
        self.target = factor_near_square(tokens)

    def output_shape(self, grid):
        return self.target

    def pool_map(self, x):
        h, w = x.shape[-2:]
        if (h, w) == self.target:
            return x
        if self.tokens < h * w:
            return F.adaptive_avg_pool2d(x, self.target)
        return F.interpolate(x, size=self.target, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"tokens={self.tokens} ({self.target[0]}x{self.target[1]})"


POOLING_REGISTRY: dict[str, Callable[[PoolingConfig], GridPooling]] = {
    "avg": lambda cfg: WindowPooling("avg", cfg.kernel, cfg.stride),
    "max": lambda cfg: WindowPooling("max", cfg.kernel, cfg.stride),
    "none": lambda cfg: NoPooling(),
}


def register_pooling(name: str, factory: Callable[[PoolingConfig], GridPooling]) -> None:
    """Plugins add a pooling kind; `factory(cfg)` returns a `GridPooling`."""
    POOLING_REGISTRY[name] = factory


def build_pooling(cfg: PoolingConfig) -> GridPooling:
    if cfg.tokens_per_grid is not None:
        return TokenCountPooling(cfg.tokens_per_grid)
    if cfg.kind not in POOLING_REGISTRY:
        raise ConfigError(
            f"pooling.kind: unknown pooling {cfg.kind!r}; accepted: {', '.join(POOLING_REGISTRY)}"
        )
    return POOLING_REGISTRY[cfg.kind](cfg)


def pooled_grid_shape(grid: tuple[int, int], cfg: PoolingConfig) -> tuple[int, int]:
    """Token map after pooling, without building tensors (used for budgets and reports)."""
    return build_pooling(cfg).output_shape(grid)
