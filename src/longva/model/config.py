"""Typed configuration of a LongVA model: vision tower, projector, pooling, encoding, LM.

The whole model is described by one `LongVAConfig` (saved as `config.json` with
`"model_type": "longva"`). Strict loading: unknown keys and wrong types are errors naming the
key (see `longva.utils.dataclass_config`). The original LongVA-7B values are the defaults where
they make sense (CLIP-L/14-336, layer -2, mlp2x_gelu, 2x2 average pooling after the projector,
UniRes with up to 49 grids, Qwen ChatML template).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from longva.errors import ConfigError
from longva.model.pooling import PoolingConfig
from longva.model.projector import ProjectorConfig
from longva.model.tower_geometry import CONV_FAMILIES, grid_side, width
from longva.utils.dataclass_config import from_dict, to_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# CLIP ViT-L/14-336 as used by LongVA (`openai/clip-vit-large-patch14-336`).
CLIP_L_336 = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
)


TowerType = Literal["clip", "siglip", "vit", "dinov2", "resnet", "convnext", "fused"]


@dataclass
class VisionTowerConfig:
    """A vision tower built from a transformers config (`hf_config` kwargs).

    `clip`, `siglip`, `vit`, `dinov2`: patch grids of image_size / patch_size per side;
    `resnet`, `convnext`: the last feature map is the grid (see `longva.model.tower_geometry`);
    `fused`: the towers of `parts` run on the same pixels and their features are concatenated
    channel-wise (Prismatic's DINO-SigLIP), each part resampled to the smallest part's grid.
    """

    type: TowerType = "clip"
    hf_config: dict[str, Any] = field(default_factory=lambda: dict(CLIP_L_336))
    name_or_path: str | None = "openai/clip-vit-large-patch14-336"  # provenance only
    select_layer: int = -2  # hidden_states index; -2 = penultimate layer (LongVA)
    select_feature: Literal["patch", "cls_patch"] = "patch"  # "patch" drops CLIP's CLS token
    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD
    chunk_size: int = 32  # frames per vision forward (bounds peak memory)
    frozen: bool = True
    parts: list[VisionTowerConfig] = field(default_factory=list)  # `fused` only: the towers to fuse

    @property
    def image_size(self) -> int:
        if self.type == "fused" and self.parts:
            return self.parts[0].image_size
        return int(self.hf_config.get("image_size", 224))

    @property
    def patch_size(self) -> int:
        """Pixels per token side (the total stride of a convolutional backbone)."""
        return self.image_size // self.grid_side

    @property
    def hidden_size(self) -> int:
        if self.type == "fused":
            return sum(p.hidden_size for p in self.parts)
        return width(self.type, self.hf_config)

    @property
    def grid_side(self) -> int:
        """Tokens per side of one grid (24 for CLIP-L/14 at 336)."""
        if self.type == "fused":
            return min(p.grid_side for p in self.parts)
        return grid_side(self.type, self.hf_config)

    def validate(self, where: str) -> None:
        if self.type == "fused":
            self._validate_fused(where)
            return
        if self.parts:
            raise ConfigError(f"{where}.parts: only a 'fused' tower has parts; got {len(self.parts)} for {self.type!r}")
        if self.chunk_size < 1:
            raise ConfigError(f"{where}.chunk_size: must be >= 1, got {self.chunk_size}")
        if self.type in CONV_FAMILIES:
            if self.grid_side < 1:
                raise ConfigError(f"{where}.hf_config: image_size {self.image_size} leaves no feature map after the"
                                  f" {self.type} strides; expected a larger image_size")
            return
        n_layers = int(self.hf_config.get("num_hidden_layers", 12))
        if not (-n_layers - 1 <= self.select_layer <= n_layers) or self.select_layer == 0:
            raise ConfigError(
                f"{where}.select_layer: {self.select_layer} is outside the tower's hidden states;"
                f" expected -{n_layers + 1}..-1 or 1..{n_layers}"
            )
        patch = int(self.hf_config.get("patch_size", 14 if self.type == "dinov2" else 16))
        if self.image_size % patch:
            raise ConfigError(
                f"{where}.hf_config: image_size {self.image_size} is not a multiple of patch_size {patch}"
            )

    def _validate_fused(self, where: str) -> None:
        if len(self.parts) < 2 or any(p.type == "fused" for p in self.parts):
            raise ConfigError(f"{where}.parts: a fused tower needs >= 2 towers that are not fused themselves;"
                              f" got {[p.type for p in self.parts]}")
        sizes = {p.image_size for p in self.parts}
        if len(sizes) > 1:
            raise ConfigError(f"{where}.parts: the fused towers read different image sizes {sorted(sizes)}; they"
                              " share one preprocessed frame, so set the same hf_config.image_size in every part")
        for i, part in enumerate(self.parts):
            part.validate(f"{where}.parts[{i}]")


@dataclass
class EncodingConfig:
    """How images and video frames become grids of visual tokens.

    `unires` (LongVA): an image is cut into up to `max_grids` grids (canvas sizes a x b grids,
    a*b <= max_grids, (1,1) excluded), no base thumbnail, no separators; a video frame is one grid.
    `anyres` (LLaVA-NeXT): base thumbnail + up to 4 grids, unpadded, learned newline per row.
    `frame_mode`: `crop` (center crop, video inference as the original) or `pad` (pad to square
    with the mean colour, as V-NIAH).
    """

    scheme: Literal["unires", "anyres"] = "unires"
    max_grids: int = 49
    grid_pinpoints: list[tuple[int, int]] | None = None  # explicit (cols, rows) grids; overrides max_grids
    frame_mode: Literal["crop", "pad"] = "crop"

    def validate(self, where: str) -> None:
        if self.max_grids < 1:
            raise ConfigError(f"{where}.max_grids: must be >= 1, got {self.max_grids}")


@dataclass
class LMConfig:
    """The language model: any `AutoModelForCausalLM` config (`model_type` + kwargs)."""

    model_type: str = "qwen2"
    hf_config: dict[str, Any] = field(default_factory=dict)
    rope_theta: float | None = None  # written into hf_config["rope_parameters"] when set

    def validate(self, where: str) -> None:
        from transformers import CONFIG_MAPPING

        if self.model_type not in CONFIG_MAPPING:
            near = [k for k in ("qwen2", "llama", "mistral", "gemma", "qwen3") if k in CONFIG_MAPPING]
            raise ConfigError(
                f"{where}.model_type: unknown LM type {self.model_type!r}; expected a transformers"
                f" causal-LM model_type such as {', '.join(near)}"
            )


@dataclass
class LongVAConfig:
    vision: VisionTowerConfig = field(default_factory=VisionTowerConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    pooling: PoolingConfig = field(default_factory=PoolingConfig)
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    template: Literal["qwen_1_5", "llama_3", "plain"] = "qwen_1_5"
    image_token: str = "<image>"
    max_length: int | None = None  # None: no limit besides memory (never truncates silently)
    # where the visual tokens sit in a user turn (`longva.model.visual_layout`): before the text
    # (LongVA), after it, or one placeholder per frame/grid, each after `frame_marker`
    visual_position: Literal["before_text", "after_text", "interleaved"] = "before_text"
    frame_marker: str = "Frame:"
    # `prefix_lm`: every visual token attends to every visual token of the sequence, earlier or
    # later; text stays causal (`longva.model.prefix_lm`); `causal`: LongVA
    attention: Literal["causal", "prefix_lm"] = "causal"

    def validate(self, where: str) -> None:
        if self.visual_position == "interleaved" and self.encoding.scheme != "unires":
            raise ConfigError(f"{where}.visual_position: 'interleaved' puts one frame marker before each grid, which"
                              f" needs UniRes grids; encoding.scheme is {self.encoding.scheme!r} (expected unires)")

    def to_dict(self) -> dict:
        return {"model_type": "longva", **to_dict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> LongVAConfig:
        data = {k: v for k, v in data.items() if k != "model_type"}
        return from_dict(cls, data)
