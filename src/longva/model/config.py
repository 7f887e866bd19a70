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
from longva.utils.dataclass_config import from_dict, to_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# CLIP ViT-L/14-336 as used by LongVA (`openai/clip-vit-large-patch14-336`).
CLIP_L_336 = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
)


@dataclass
class VisionTowerConfig:
    """A CLIP or SigLIP vision tower built from a transformers config (`hf_config` kwargs)."""

    type: Literal["clip", "siglip"] = "clip"
    hf_config: dict[str, Any] = field(default_factory=lambda: dict(CLIP_L_336))
    name_or_path: str | None = "openai/clip-vit-large-patch14-336"  # provenance only
    select_layer: int = -2  # hidden_states index; -2 = penultimate layer (LongVA)
    select_feature: Literal["patch", "cls_patch"] = "patch"  # "patch" drops CLIP's CLS token
    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD
    chunk_size: int = 32  # frames per vision forward (bounds peak memory)
    frozen: bool = True

    @property
    def image_size(self) -> int:
        return int(self.hf_config.get("image_size", 224))

    @property
    def patch_size(self) -> int:
        return int(self.hf_config.get("patch_size", 16))

    @property
    def hidden_size(self) -> int:
        return int(self.hf_config.get("hidden_size", 768))

    @property
    def grid_side(self) -> int:
        """Patches per side of one grid (24 for CLIP-L/14 at 336)."""
        return self.image_size // self.patch_size

    def validate(self, where: str) -> None:
        n_layers = int(self.hf_config.get("num_hidden_layers", 12))
        if not (-n_layers - 1 <= self.select_layer <= n_layers) or self.select_layer == 0:
            raise ConfigError(
                f"{where}.select_layer: {self.select_layer} is outside the tower's hidden states;"
                f" expected -{n_layers + 1}..-1 or 1..{n_layers}"
            )
        if self.chunk_size < 1:
            raise ConfigError(f"{where}.chunk_size: must be >= 1, got {self.chunk_size}")
        if self.image_size % self.patch_size:
            raise ConfigError(
                f"{where}.hf_config: image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )


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
            near = [k for k in ("qwen2", "llama", "mistral", "qwen3") if k in CONFIG_MAPPING]
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

    def to_dict(self) -> dict:
        return {"model_type": "longva", **to_dict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> LongVAConfig:
        data = {k: v for k, v in data.items() if k != "model_type"}
        return from_dict(cls, data)
