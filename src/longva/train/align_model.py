"""Where the alignment stage's starting weights come from.

Either a LongVA folder (`pretrained`: ours or the original layout), or parts (the original's
stage 1/2 setup): a local transformers causal-LM folder (`language_model`, e.g. the `final/`
of `longva train text`), a local CLIP/SigLIP folder (`vision_tower`) or a `vision` config
(random init, for toys), and a fresh projector; `pretrained_projector` then loads a stage-1
projector (`--pretrain_mm_mlp_adapter`) from a LongVA folder or a weights file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from longva.errors import CheckpointError, ConfigError
from longva.model.checkpoint import (
    VISION_CONFIG_KEYS,
    llava_key,
    load_config,
    load_state_dict,
    load_tokenizer,
)
from longva.model.config import (
    EncodingConfig,
    LMConfig,
    LongVAConfig,
    PoolingConfig,
    ProjectorConfig,
    VisionTowerConfig,
)
from longva.utils.device import parse_dtype

_LM_DROP = {"transformers_version", "architectures", "_name_or_path", "dtype", "torch_dtype", "model_type", "auto_map"}


@dataclass
class AlignModelConfig:
    pretrained: str | None = None  # a LongVA folder to continue from
    language_model: str | None = None  # or: a local transformers causal-LM folder ...
    vision_tower: str | None = None  # ... + a local CLIP/SigLIP folder (config.json + weights)
    tokenizer: str | None = None  # tokenizer folder (default: the pretrained / language_model folder)
    vision: VisionTowerConfig | None = None  # tower options (select_layer, ...); alone: random init
    projector: ProjectorConfig | None = None
    pooling: PoolingConfig | None = None
    encoding: EncodingConfig | None = None  # with `pretrained`: overrides the folder's (same scheme)
    template: Literal["qwen_1_5", "llama_3", "plain"] | None = None  # idem
    pretrained_projector: str | None = None  # LongVA folder or .safetensors/.bin of (mm_)projector weights
    dtype: Literal["float32", "bfloat16"] = "float32"  # weights (bf16 compute: train.precision)
    activation_checkpointing: bool = False

    def validate(self, where: str = "model") -> None:
        if (self.pretrained is None) == (self.language_model is None):
            raise ConfigError(
                f"{where}: give exactly one of pretrained (a LongVA folder) or language_model (an LM folder)"
            )
        if self.pretrained is not None:
            fixed = [k for k in ("vision_tower", "vision", "projector", "pooling") if getattr(self, k) is not None]
            if fixed:
                raise ConfigError(f"{where}.{fixed[0]}: not allowed with pretrained (the LongVA folder defines it)")
        elif self.vision_tower is None and self.vision is None:
            raise ConfigError(
                f"{where}.vision_tower: give a local CLIP/SigLIP folder (or a `vision` section for a randomly "
                "initialised tower)"
            )


def _folder(path: str, what: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{what}: {path!r} is not a folder; expected a local model folder")
    return p


# ---- parts ------------------------------------------------------------------------------------


def lm_config_from_hf(hf_config) -> LMConfig:
    """Our LMConfig of a transformers config, so `LongVAForCausalLM.from_pretrained` rebuilds it."""
    kwargs = {k: v for k, v in hf_config.to_diff_dict().items() if k not in _LM_DROP}
    return LMConfig(model_type=hf_config.model_type, hf_config=kwargs)


def load_language_model(path: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = _folder(path, "model.language_model")
    try:
        lm = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=dtype, attn_implementation="sdpa", local_files_only=True
        )
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"model.language_model {path!r}: not a transformers causal-LM folder ({first[:160]})"
        ) from None
    return lm


def vision_config_from_folder(path: str, base: VisionTowerConfig | None) -> VisionTowerConfig:
    """Tower config of a CLIP/SigLIP folder (a vision-only or a full CLIP/SigLIP checkpoint)."""
    folder = _folder(path, "model.vision_tower")
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ConfigError(
            f"model.vision_tower: {folder / 'config.json'} is missing or not JSON; expected a CLIP/SigLIP folder"
        ) from None
    model_type = str(raw.get("model_type", ""))
    if "clip" not in model_type and "siglip" not in model_type:
        raise ConfigError(
            f"model.vision_tower: {folder} has model_type {model_type!r}; expected a CLIP or SigLIP model"
        )
    kind = "siglip" if "siglip" in model_type else "clip"
    vc = raw.get("vision_config", raw)
    base = base or VisionTowerConfig()
    mean, std = _image_stats(folder, kind, base)
    hf = {k: vc[k] for k in VISION_CONFIG_KEYS if k in vc}
    vision = replace(base, type=kind, hf_config=hf, name_or_path=str(path), image_mean=mean, image_std=std)
    vision.validate("model.vision")  # select_layer against the folder's real depth
    return vision


def _image_stats(folder: Path, kind: str, base: VisionTowerConfig):
    """Normalisation of the tower's own preprocessor (SigLIP: 0.5; CLIP: its CLIP means)."""
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        raw = json.loads(pre.read_text(encoding="utf-8"))
        if "image_mean" in raw and "image_std" in raw:
            return tuple(raw["image_mean"]), tuple(raw["image_std"])
    if kind == "siglip":
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    return base.image_mean, base.image_std


def load_vision_weights(tower, path: str) -> None:
    """Copy a CLIP/SigLIP folder's vision weights into `tower.model` (all must be present)."""
    state = load_state_dict(path, lambda k: not k.startswith(("text_model.", "text_projection", "logit_scale")))
    state = {k.removeprefix("vision_model."): v for k, v in state.items()}
    missing, _ = tower.model.load_state_dict(state, strict=False)  # unexpected: e.g. visual_projection
    if missing:
        raise CheckpointError(f"model.vision_tower {path!r}: weights {missing[:3]} missing ({len(missing)} in all)")


# ---- stage-1 projector -------------------------------------------------------------------------


def _projector_key(key: str) -> str | None:
    """Our name of a projector weight (`model.mm_projector.0.weight` -> `projector.0.weight`)."""
    ours = llava_key(key)
    return ours if ours is not None and (ours.startswith("projector.") or ours == "image_newline") else None


def load_pretrained_projector(model, path: str) -> None:
    """Load stage-1 projector weights (and AnyRes' image_newline if present) into `model`."""
    source = Path(path)
    if not source.exists():
        raise ConfigError(
            f"model.pretrained_projector: {path!r} does not exist; expected a LongVA folder or a weights file"
        )
    state = {_projector_key(k): v for k, v in load_state_dict(source, lambda k: _projector_key(k) is not None).items()}
    projector = {k.removeprefix("projector."): v for k, v in state.items() if k.startswith("projector.")}
    if not projector:
        raise CheckpointError(f"model.pretrained_projector {path!r}: no projector.* / mm_projector.* weights found")
    try:
        model.projector.load_state_dict(projector, strict=True)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:200]
        raise CheckpointError(f"model.pretrained_projector {path!r}: does not fit this projector ({detail})") from None
    if "image_newline" in state and model.image_newline is not None:
        with torch.no_grad():
            model.image_newline.copy_(state["image_newline"])


# ---- the model -----------------------------------------------------------------------------------


def _lm_hf_config(path: str):
    from transformers import AutoConfig

    folder = _folder(path, "model.language_model")
    try:
        return AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"model.language_model {path!r}: not a transformers model folder ({first[:160]})"
        ) from None


def _parts_config(cfg: AlignModelConfig) -> LongVAConfig:
    vision = vision_config_from_folder(cfg.vision_tower, cfg.vision) if cfg.vision_tower else cfg.vision
    return LongVAConfig(
        vision=vision,
        projector=cfg.projector or ProjectorConfig(),
        pooling=cfg.pooling or PoolingConfig(),
        encoding=cfg.encoding or EncodingConfig(),
        lm=lm_config_from_hf(_lm_hf_config(cfg.language_model)),
        template=cfg.template or "qwen_1_5",
    )


def _pretrained_config(cfg: AlignModelConfig) -> LongVAConfig:
    config = load_config(_folder(cfg.pretrained, "model.pretrained"))
    if cfg.encoding is not None:
        if cfg.encoding.scheme != config.encoding.scheme:  # AnyRes has an extra parameter
            raise ConfigError(
                f"model.encoding.scheme: {cfg.encoding.scheme!r} differs from the folder's "
                f"{config.encoding.scheme!r}; expected the same scheme"
            )
        config.encoding = cfg.encoding
    if cfg.template is not None:
        config.template = cfg.template
    return config


def build_align_processor(cfg: AlignModelConfig):
    """The processor (tokenizer + LongVAConfig) of the model `cfg` describes, without its weights."""
    from longva.model.processor import LongVAProcessor

    config = _pretrained_config(cfg) if cfg.pretrained else _parts_config(cfg)
    source = cfg.tokenizer or cfg.pretrained or cfg.language_model
    try:
        tokenizer = load_tokenizer(source)
    except CheckpointError as e:  # e.g. the final/ of `longva train text` holds no tokenizer
        raise CheckpointError(f"{e}; set model.tokenizer to the folder holding the tokenizer") from None
    vocab = int(config.lm.hf_config.get("vocab_size", len(tokenizer)))
    if len(tokenizer) > vocab:
        raise ConfigError(
            f"model.tokenizer: the tokenizer has {len(tokenizer)} tokens but the LM only {vocab} embeddings"
        )
    return LongVAProcessor(tokenizer, config)


def build_align_model(cfg: AlignModelConfig):
    """(LongVAForCausalLM, LongVAProcessor) in `cfg.dtype`, stage-1 projector loaded if given."""
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.train.text_stage import enable_activation_checkpointing

    dtype = parse_dtype(cfg.dtype, flag="model.dtype")
    processor = build_align_processor(cfg)
    if cfg.pretrained:
        model = LongVAForCausalLM.from_pretrained(cfg.pretrained, dtype=dtype)
        model.config = processor.config  # encoding / template overrides (weights unchanged)
    else:
        lm = load_language_model(cfg.language_model, dtype)
        model = LongVAForCausalLM(processor.config, language_model=lm)
        if cfg.vision_tower:
            load_vision_weights(model.vision_tower, cfg.vision_tower)
    if cfg.pretrained_projector:
        load_pretrained_projector(model, cfg.pretrained_projector)
    model = model.to(dtype)  # the projector / newline are built in the default dtype
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(model.language_model)
    return model, processor
