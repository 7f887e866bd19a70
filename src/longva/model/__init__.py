"""LongVA model: config, vision tower, projector, pooling, encodings, prompt, checkpoints.

Names are imported lazily so that `import longva.model.config` does not load torch/transformers.
"""

from importlib import import_module

_EXPORTS = {
    "EncodingConfig": "longva.model.config",
    "LMConfig": "longva.model.config",
    "LongVAConfig": "longva.model.config",
    "PoolingConfig": "longva.model.config",
    "ProjectorConfig": "longva.model.config",
    "VisionTowerConfig": "longva.model.config",
    "VisualInput": "longva.model.encoding",
    "image_token_count": "longva.model.encoding",
    "tokens_per_frame": "longva.model.encoding",
    "LongVAForCausalLM": "longva.model.modeling_longva",
    "LongVAProcessor": "longva.model.processor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'longva.model' has no attribute {name!r}")
