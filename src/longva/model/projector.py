"""Projector registry: vision features (N, P, D_vision) -> LM embeddings (N, P', D_lm).

- `linear`: one Linear.
- `mlp{N}x_gelu` (N >= 2; `mlp2x_gelu` is LongVA's default): Linear, then (GELU, Linear) x (N-1),
  as an `nn.Sequential` so state-dict keys match LLaVA (`mm_projector.0.*`, `mm_projector.2.*`).
- `transformer`: Linear to D_lm, then `num_layers` pre-LN self-attention encoder layers over the
  grid's tokens (token count unchanged).
- `cross_attn`: `num_queries` learned queries (default: the grid's native token count, so the
  token budget is not confounded) attending to the grid's projected tokens through `num_layers`
  decoder blocks (self-attention over queries, cross-attention to the grid, MLP).
- `identity`: only when D_vision == D_lm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from longva.errors import ConfigError

_MLP_RE = re.compile(r"^mlp(\d+)x_gelu$")


@dataclass
class ProjectorConfig:
    """Maps vision features (tower width) to the LM width; see `longva.model.projector`."""

    type: str = "mlp2x_gelu"
    num_layers: int = 2  # transformer / cross_attn blocks
    num_heads: int | None = None  # default: max(1, width // 64)
    num_queries: int | None = None  # cross_attn: learned queries per grid (default: native tokens)
    mlp_ratio: float = 4.0

    @property
    def mlp_depth(self) -> int | None:
        m = _MLP_RE.match(self.type)
        return int(m.group(1)) if m else None

    def validate(self, where: str) -> None:
        if registry_key(self.type) is None:
            known = ", ".join(k.replace("mlpNx_gelu", "mlpNx_gelu (N>=2)") for k in PROJECTOR_REGISTRY)
            raise ConfigError(f"{where}.type: unknown projector {self.type!r}; accepted: {known}")
        if self.num_layers < 1:
            raise ConfigError(f"{where}.num_layers: must be >= 1, got {self.num_layers}")
        if self.num_queries is not None and self.num_queries < 1:
            raise ConfigError(f"{where}.num_queries: must be >= 1, got {self.num_queries}")




def _num_heads(cfg: ProjectorConfig, width: int) -> int:
    heads = cfg.num_heads or max(1, width // 64)
    while width % heads:  # the default must divide the width
        heads -= 1
    if cfg.num_heads and width % cfg.num_heads:
        raise ConfigError(f"projector.num_heads: {cfg.num_heads} does not divide the LM width {width}")
    return heads


class Projector(nn.Module):
    """Base: maps (N, P, D_in) -> (N, output_tokens(P), D_out)."""

    def output_tokens(self, tokens: int) -> int:
        return tokens


class SequentialProjector(nn.Sequential):
    """linear / mlpNx_gelu: token-wise, so the token count is unchanged."""

    def output_tokens(self, tokens: int) -> int:
        return tokens


class IdentityProjector(Projector):
    def forward(self, x):
        return x


class TransformerProjector(Projector):
    def __init__(self, cfg: ProjectorConfig, d_in: int, d_out: int):
        super().__init__()
        self.input = nn.Linear(d_in, d_out)
        layer = nn.TransformerEncoderLayer(
            d_out, _num_heads(cfg, d_out), int(cfg.mlp_ratio * d_out), dropout=0.0,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x):  # (N, P, D_in) -> (N, P, D_out)
        return self.norm(self.layers(self.input(x)))


class CrossAttentionProjector(Projector):
    def __init__(self, cfg: ProjectorConfig, d_in: int, d_out: int, native_tokens: int):
        super().__init__()
        self.num_queries = cfg.num_queries or native_tokens
        self.queries = nn.Parameter(torch.randn(self.num_queries, d_out) / math.sqrt(d_out))
        self.input = nn.Linear(d_in, d_out)
        layer = nn.TransformerDecoderLayer(
            d_out, _num_heads(cfg, d_out), int(cfg.mlp_ratio * d_out), dropout=0.0,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.layers = nn.TransformerDecoder(layer, cfg.num_layers)
        self.norm = nn.LayerNorm(d_out)

    def output_tokens(self, tokens: int) -> int:
        return self.num_queries

    def forward(self, x):  # (N, P, D_in) -> (N, Q, D_out)
        memory = self.input(x)
        queries = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1).to(memory.dtype)
        return self.norm(self.layers(queries, memory))


def _mlp(depth: int, d_in: int, d_out: int) -> SequentialProjector:
    modules: list[nn.Module] = [nn.Linear(d_in, d_out)]
    for _ in range(depth - 1):
        modules += [nn.GELU(), nn.Linear(d_out, d_out)]
    return SequentialProjector(*modules)


def _identity(cfg, d_in, d_out, native_tokens):
    if d_in != d_out:
        raise ConfigError(
            f"projector.type: 'identity' needs the vision width ({d_in}) to equal the LM width"
            f" ({d_out}); use 'linear' or 'mlp2x_gelu'"
        )
    return IdentityProjector()


# name matcher -> factory(cfg, d_in, d_out, native_tokens)
PROJECTOR_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "linear": lambda cfg, d_in, d_out, n: SequentialProjector(nn.Linear(d_in, d_out)),
    "mlpNx_gelu": lambda cfg, d_in, d_out, n: _mlp(cfg.mlp_depth, d_in, d_out),
    "transformer": lambda cfg, d_in, d_out, n: TransformerProjector(cfg, d_in, d_out),
    "cross_attn": lambda cfg, d_in, d_out, n: CrossAttentionProjector(cfg, d_in, d_out, n),
    "identity": _identity,
}


def register_projector(name: str, factory: Callable[..., nn.Module]) -> None:
    """Plugins add a projector: `factory(cfg, d_in, d_out, native_tokens) -> nn.Module`."""
    PROJECTOR_REGISTRY[name] = factory


def registry_key(type_name: str) -> str | None:
    m = _MLP_RE.match(type_name)
    if m:
        return "mlpNx_gelu" if int(m.group(1)) >= 2 else None
    return type_name if type_name in PROJECTOR_REGISTRY and type_name != "mlpNx_gelu" else None


def build_projector(cfg: ProjectorConfig, d_in: int, d_out: int, native_tokens: int) -> nn.Module:
    key = registry_key(cfg.type)
    if key is None:
        known = ", ".join(k.replace("mlpNx_gelu", "mlpNx_gelu (N>=2)") for k in PROJECTOR_REGISTRY)
        raise ConfigError(f"projector.type: unknown projector {cfg.type!r}; accepted: {known}")
    return PROJECTOR_REGISTRY[key](cfg, d_in, d_out, native_tokens)


def projector_output_tokens(cfg: ProjectorConfig, native_tokens: int) -> int:
    """Tokens per grid after the projector (only cross_attn changes the count)."""
    if registry_key(cfg.type) == "cross_attn":
        return cfg.num_queries or native_tokens
    return native_tokens
