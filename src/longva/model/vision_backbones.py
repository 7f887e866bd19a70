"""Vision towers beyond CLIP/SigLIP: ViT, DINOv2, ResNet/ConvNeXt, and fused towers.

`build_vision_tower(cfg)` is what the model calls for every tower type. Every tower maps frames
(F, 3, S, S) -> (F, g*g, D) in chunks of `chunk_size` frames, g = `cfg.grid_side`:

- `vit`, `dinov2`: hidden_states[select_layer] of the transformers model, CLS (and any
  register tokens) dropped, so only the g*g patch tokens remain;
- `resnet`, `convnext`: the last feature map (F, D, g, g), flattened row-major to g*g tokens;
- `fused` (Prismatic's DINO-SigLIP): every part sees the same pixels; a part whose grid is
  finer than the smallest part's is average-pooled to it (adaptive pooling), then the features
  are concatenated channel-wise: D = sum of the parts' widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    ConvNextConfig,
    ConvNextModel,
    Dinov2Config,
    Dinov2Model,
    ResNetConfig,
    ResNetModel,
    ViTConfig,
    ViTModel,
)

from longva.model.config import VisionTowerConfig
from longva.model.vision_tower import ChunkedTower, VisionTower

_HF = {
    "vit": (ViTConfig, lambda c: ViTModel(c, add_pooling_layer=False)),
    "dinov2": (Dinov2Config, Dinov2Model),
    "resnet": (ResNetConfig, ResNetModel),
    "convnext": (ConvNextConfig, ConvNextModel),
}


def build_vision_tower(cfg: VisionTowerConfig) -> nn.Module:
    """The tower module of `cfg.type` (clip/siglip: `VisionTower`, which stops at select_layer)."""
    if cfg.type in ("clip", "siglip"):
        return VisionTower(cfg)
    if cfg.type == "fused":
        return FusedTower(cfg)
    if cfg.type in ("resnet", "convnext"):
        return FeatureMapTower(cfg)
    return HiddenStateTower(cfg)


def build_hf_backbone(cfg: VisionTowerConfig) -> nn.Module:
    config_cls, make = _HF[cfg.type]
    kwargs = dict(cfg.hf_config)
    if cfg.type == "dinov2":
        kwargs.setdefault("use_mask_token", False)  # masked-image-modelling only: never used here
    hf_config = config_cls(**kwargs)
    hf_config._attn_implementation = "sdpa" if cfg.type in ("vit", "dinov2") else "eager"
    return make(hf_config)


class HiddenStateTower(ChunkedTower):
    """ViT / DINOv2: one hidden state, patch tokens only."""

    def __init__(self, cfg: VisionTowerConfig):
        super().__init__(cfg)
        self.model = build_hf_backbone(cfg)

    def unused_modules(self) -> list[nn.Module]:
        model = self.model
        layers = model.encoder.layer if hasattr(model, "encoder") else model.layers  # DINOv2 / ViT
        used = self.cfg.select_layer % (len(layers) + 1)  # hidden_states[i] = output of layer i
        after = [m for name, m in model.named_children() if name not in ("embeddings", "encoder", "layers")]
        return after + list(layers[used:])  # the final layernorm and the layers after the selected one

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values, output_hidden_states=True)
        hidden = out.hidden_states[self.cfg.select_layer]  # (c, extra + g*g, D)
        return hidden[:, -self.grid_side**2 :]  # CLS / registers come first


class FeatureMapTower(ChunkedTower):
    """ResNet / ConvNeXt: the last feature map is the token grid."""

    def __init__(self, cfg: VisionTowerConfig):
        super().__init__(cfg)
        self.model = build_hf_backbone(cfg)

    def unused_modules(self) -> list[nn.Module]:  # the pooled head (ConvNeXt's final layernorm)
        return [m for name, m in self.model.named_children() if name not in ("embedder", "embeddings", "encoder")]

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        fmap = self.model(pixel_values=pixel_values).last_hidden_state  # (c, D, g, g)
        return fmap.flatten(2).transpose(1, 2)  # (c, g*g, D), row-major like a patch grid


class FusedTower(ChunkedTower):
    """Parts on the same pixels, resampled to the smallest grid, concatenated channel-wise."""

    def __init__(self, cfg: VisionTowerConfig):
        super().__init__(cfg)
        self.parts = nn.ModuleList(build_vision_tower(p) for p in cfg.parts)

    def unused_modules(self) -> list[nn.Module]:
        return [m for part in self.parts for m in part.unused_modules()]

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        side = self.grid_side
        feats = [_resample(part(pixel_values, chunk_size=pixel_values.shape[0]), side) for part in self.parts]
        return torch.cat(feats, dim=-1)  # (c, g*g, sum D)


def _resample(tokens: torch.Tensor, side: int) -> torch.Tensor:
    """(c, s*s, D) -> (c, side*side, D) by adaptive average pooling (identity when s == side)."""
    s = int(round(tokens.shape[1] ** 0.5))
    if s == side:
        return tokens
    grid = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, s, s)  # (c, D, s, s)
    return F.adaptive_avg_pool2d(grid, side).flatten(2).transpose(1, 2)
