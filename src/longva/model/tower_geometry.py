"""Token-grid geometry of each vision-tower family, from its transformers config kwargs alone.

No torch: the ablation compiler and `tokens_per_frame` read these sizes without building a model.

- ViT-style towers (clip, siglip, vit, dinov2): a grid of image_size / patch_size patches per side,
  width `hidden_size`.
- Convolutional backbones (resnet, convnext): the LAST feature map is the grid; its side follows
  the strides of the stem and the stages (checked against the real modules in the tests), width
  `hidden_sizes[-1]`.
"""

from __future__ import annotations

from typing import Any

VIT_FAMILIES = ("clip", "siglip", "vit", "dinov2")
CONV_FAMILIES = ("resnet", "convnext")
CLS_FAMILIES = ("clip", "vit", "dinov2")  # towers whose sequence starts with a CLS token

# transformers' defaults where our hf_config may leave a key out
_RESNET_HIDDEN = (256, 512, 1024, 2048)
_CONVNEXT_HIDDEN = (96, 192, 384, 768)


def _ceil_half(side: int) -> int:
    return (side + 1) // 2


def resnet_grid_side(hf: dict[str, Any]) -> int:
    """Stem conv 7x7/2 (pad 3) and max-pool 3x3/2 (pad 1), then one stride-2 stage per later stage."""
    side = _ceil_half(_ceil_half(int(hf.get("image_size", 224))))
    stages = len(hf.get("hidden_sizes", _RESNET_HIDDEN))
    downsampling = stages if hf.get("downsample_in_first_stage", False) else stages - 1
    for _ in range(downsampling):
        side = _ceil_half(side)
    return side


def convnext_grid_side(hf: dict[str, Any]) -> int:
    """Patchify stem (kernel = stride = patch_size), then a 2x2/2 downsampling before each later stage."""
    side = int(hf.get("image_size", 224)) // int(hf.get("patch_size", 4))
    for _ in range(int(hf.get("num_stages", 4)) - 1):  # transformers builds num_stages stages
        side //= 2
    return side


def grid_side(family: str, hf: dict[str, Any]) -> int:
    """Tokens per side of one grid the tower produces."""
    if family == "resnet":
        return resnet_grid_side(hf)
    if family == "convnext":
        return convnext_grid_side(hf)
    default_patch = 14 if family == "dinov2" else 16  # transformers' DINOv2 default is 14
    return int(hf.get("image_size", 224)) // int(hf.get("patch_size", default_patch))


def width(family: str, hf: dict[str, Any]) -> int:
    """Channels of one visual feature."""
    if family == "resnet":
        return int(hf.get("hidden_sizes", _RESNET_HIDDEN)[-1])
    if family == "convnext":
        return int(hf.get("hidden_sizes", _CONVNEXT_HIDDEN)[-1])
    return int(hf.get("hidden_size", 768))
