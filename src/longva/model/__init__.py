"""LongVA model: config, vision tower, projector, pooling, encodings, prompt, checkpoints."""

from longva.model.config import (
    EncodingConfig,
    LMConfig,
    LongVAConfig,
    PoolingConfig,
    ProjectorConfig,
    VisionTowerConfig,
)
from longva.model.encoding import VisualInput, image_token_count, tokens_per_frame
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor

__all__ = [
    "EncodingConfig",
    "LMConfig",
    "LongVAConfig",
    "LongVAForCausalLM",
    "LongVAProcessor",
    "PoolingConfig",
    "ProjectorConfig",
    "VisionTowerConfig",
    "VisualInput",
    "image_token_count",
    "tokens_per_frame",
]
