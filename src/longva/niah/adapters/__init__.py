"""Model adapters: any video LMM behind one small interface (see `base.py`).

    longva            this package's LongVAForCausalLM (and imported LongVA / LLaVA-Qwen folders)
    llava_onevision   transformers LlavaOnevisionForConditionalGeneration
    llava_next_video  transformers LlavaNextVideoForConditionalGeneration
    qwen2_vl          transformers Qwen2VLForConditionalGeneration (M-RoPE, 2-frame units)
    qwen2_5_vl        transformers Qwen2_5_VLForConditionalGeneration (time-scaled M-RoPE)

`detect_model_type(dir)` reads `config.json`; `load_adapter(dir, model_type)` loads the folder;
`adapter_for(model, ...)` wraps a model already in memory (tests, benchmarks, the recipe).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from longva.errors import CheckpointError, InputError
from longva.utils.paths import model_folder
from longva.utils.text_input import read_json

MODEL_TYPES = ("longva", "llava_onevision", "llava_next_video", "qwen2_vl", "qwen2_5_vl")
HF_CLASSES = {
    "llava_onevision": "LlavaOnevisionForConditionalGeneration",
    "llava_next_video": "LlavaNextVideoForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
}


def read_config(model_dir: str | os.PathLike) -> dict:
    path = model_folder(model_dir) / "config.json"
    try:
        return read_json(path, "config.json")  # UTF-8, valid JSON, an object
    except InputError as e:
        raise CheckpointError(str(e)) from None


def detect_model_type(model_dir: str | os.PathLike) -> str:
    """The adapter for a folder, from its config.json (`model_type`, LongVA's `mm_*` keys)."""
    config = read_config(model_dir)
    kind = str(config.get("model_type", ""))
    if kind in MODEL_TYPES:
        return kind
    if any(k.startswith("mm_") for k in config):  # an original LongVA / LLaVA-Qwen checkpoint
        return "longva"
    raise InputError(
        f"--model {str(model_dir)!r}: cannot detect the model type from config.json"
        f" (model_type {kind!r}); expected --model-type one of {', '.join(MODEL_TYPES)}"
    )


def check_model_type(name: str) -> str:
    if name not in MODEL_TYPES:
        raise InputError(
            f"--model-type {name!r} is unknown; expected auto or one of {', '.join(MODEL_TYPES)}"
        )
    return name


def load_adapter(
    model_dir: str | os.PathLike,
    model_type: str | None = None,
    dtype: torch.dtype | None = None,
    device: str = "cpu",
    fps: float = 1.0,
):
    """The adapter of a model folder; `model_type` None or "auto" = detect from config.json."""
    model_dir = Path(model_dir)
    kind = (
        detect_model_type(model_dir)
        if model_type in (None, "auto")
        else check_model_type(model_type)
    )
    read_config(model_dir)  # a clear error for a missing folder / config
    if kind == "longva":
        from longva.niah.adapters.longva import load

        return load(model_dir, dtype, device)
    import transformers

    from longva.niah.adapters.hf_common import load_parts

    model_cls = getattr(transformers, HF_CLASSES[kind])
    parts = load_parts(model_cls, model_dir, _defaults(kind), dtype, device)
    return _wrap(kind, parts, fps)


def adapter_for(
    model,
    tokenizer,
    model_type: str,
    template: str | None = None,
    processing=None,
    fps: float = 1.0,
):
    """An adapter for a transformers VLM in memory (`processing`: its FrameProcessing)."""
    from longva.niah.adapters.hf_common import HFParts

    kind = check_model_type(model_type)
    parts = HFParts(model.eval(), tokenizer, processing or _defaults(kind), template, "<in memory>")
    return _wrap(kind, parts, fps)


def _defaults(kind: str):
    from longva.niah.adapters import llava_video, qwen2_vl

    return {
        "llava_onevision": llava_video.ONEVISION_DEFAULTS,
        "llava_next_video": llava_video.NEXT_VIDEO_DEFAULTS,
        "qwen2_vl": qwen2_vl.DEFAULTS,
        "qwen2_5_vl": qwen2_vl.DEFAULTS,
    }[kind]


def _wrap(kind: str, parts, fps: float):
    from longva.niah.adapters import llava_video, qwen2_vl

    if kind == "llava_onevision":
        return llava_video.onevision(parts)
    if kind == "llava_next_video":
        return llava_video.next_video(parts)
    return qwen2_vl.qwen_vl(parts, kind, fps)
