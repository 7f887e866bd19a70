"""A tower of another family at the same scale as a given one (tiny models, ablation variants).

`tower_like(family, base)` keeps what the rest of the model depends on: the image size, the
token grid (g x g per frame) and the feature width, so a family swap changes the tower and
nothing else (projector input, pooling and tokens per frame stay the base's). Transformer
families copy the base's depth and heads; convolutional ones get as many one-block stages as
their strides need to reach the grid; `fused` is DINOv2 + SigLIP (Prismatic), each at the base's
width, so its features are twice as wide.
"""

from __future__ import annotations

from dataclasses import replace

from longva.errors import ConfigError
from longva.model.config import VisionTowerConfig
from longva.model.tower_geometry import VIT_FAMILIES, convnext_grid_side, resnet_grid_side

FUSED_DEFAULT = ("dinov2", "siglip")
MAX_STAGES = 6


def tower_like(family: str, base: VisionTowerConfig, parts: tuple[str, ...] = FUSED_DEFAULT) -> VisionTowerConfig:
    """A `family` tower with the base's image size, grid and width (ConfigError if impossible)."""
    if family == "fused":
        towers = [tower_like(p, base) for p in parts]
        return replace(base, type="fused", hf_config={}, parts=towers, name_or_path=None)
    if family in VIT_FAMILIES:
        hf = _transformer_kwargs(family, base)
    elif family in ("resnet", "convnext"):
        hf = _conv_kwargs(family, base)
    else:
        raise ConfigError(f"vision tower family {family!r} is unknown; expected one of"
                          f" {', '.join((*VIT_FAMILIES, 'resnet', 'convnext', 'fused'))}")
    return replace(base, type=family, hf_config=hf, parts=[], name_or_path=None)


def _transformer_kwargs(family: str, base: VisionTowerConfig) -> dict:
    src = base.hf_config if base.type in VIT_FAMILIES else {}
    hidden = base.hidden_size
    heads = int(src.get("num_attention_heads", max(1, hidden // 64)))
    hf = dict(hidden_size=hidden, num_hidden_layers=int(src.get("num_hidden_layers", 2)), num_attention_heads=heads,
              image_size=base.image_size, patch_size=base.patch_size)
    intermediate = int(src.get("intermediate_size", 4 * hidden))
    if family == "dinov2":
        hf["mlp_ratio"] = max(1, intermediate // hidden)  # DINOv2 sizes its MLP by an integer ratio
    else:
        hf["intermediate_size"] = intermediate
    return hf


def _conv_kwargs(family: str, base: VisionTowerConfig) -> dict:
    side, size, hidden = base.grid_side, base.image_size, base.hidden_size
    for stages in range(1, MAX_STAGES + 1):
        widths = [max(8, hidden >> (stages - 1 - i)) for i in range(stages)]  # doubling, ending at `hidden`
        hf = dict(hidden_sizes=widths, depths=[1] * stages, image_size=size)
        if family == "resnet":
            hf.update(embedding_size=widths[0], layer_type="bottleneck")
            if resnet_grid_side(hf) == side:
                return hf
        else:
            stride = 2 ** (stages - 1)
            patch = size // (side * stride)
            hf.update(num_stages=stages, patch_size=patch)
            if patch >= 1 and convnext_grid_side(hf) == side:
                return hf
    raise ConfigError(f"a {family} backbone cannot turn {size} px frames into the base's {side}x{side} grid"
                      f" (its strides halve the map from {size} px); choose an image_size / grid whose ratio is a"
                      " power of two")
