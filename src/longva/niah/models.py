"""Thin adapters from models to what the NIAH evaluator needs.

The evaluator core only knows a causal LM, a function embedding token ids and precomputed
visual rows. `VisionNIAHModel` bundles that for a `LongVAForCausalLM` (+ processor): the LM
inside it, `embed_text`, and frame encoding with V-NIAH's pad-to-square preprocessing.
`load_text_model` gives the LM alone, from a plain HF causal-LM folder or a LongVA folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from longva.errors import CheckpointError, InputError
from longva.niah.embedding_cache import module_fingerprint, weights_fingerprint
from longva.niah.sources import EmbedFn

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class VisionNIAHModel:
    lm: torch.nn.Module  # a transformers *ForCausalLM
    embed_fn: EmbedFn  # ids (L,) -> (L, D)
    encode: Callable[[list], torch.Tensor]  # frames (H, W, 3) uint8 -> (n, tpf, D) on CPU
    tokens_per_frame: int
    tokenizer: object
    template: str
    stop_ids: tuple[int, ...]
    decode: Callable[[list[int]], str]
    visual_key: dict  # what the visual embeddings depend on (embedding-cache key)


def resolve_dtype(name: str | None, device: str) -> torch.dtype:
    if name in (None, "auto"):
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if name not in DTYPES:
        raise InputError(f"--dtype {name!r} is unknown; expected auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def from_longva(model, processor, weights_id: str | None = None) -> VisionNIAHModel:
    """Wrap a loaded LongVAForCausalLM + LongVAProcessor."""

    def encode(frames: list) -> torch.Tensor:
        pixels = processor.preprocess_frames(
            [np.asarray(f) for f in frames], mode="pad"
        )  # (F, 3, S, S)
        with torch.no_grad():
            return model.encode_frames(
                pixels.to(model.device, model.dtype)
            ).cpu()  # (F, tpf, D), model dtype

    cfg = model.config.to_dict()
    visual_key = {
        "weights": weights_id or module_fingerprint(model),
        "config": {k: cfg[k] for k in ("vision", "projector", "pooling")},
        "frame_mode": "pad",
        "dtype": str(model.dtype),
    }
    tokenizer = processor.tokenizer
    stop = set(processor.stop_token_ids)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        stop.add(tokenizer.eos_token_id)
    return VisionNIAHModel(
        lm=model.language_model,
        embed_fn=model.embed_text,
        encode=encode,
        tokens_per_frame=model.tokens_per_frame,
        tokenizer=tokenizer,
        template=model.config.template,
        stop_ids=tuple(sorted(stop)),
        decode=processor.decode,
        visual_key=visual_key,
    )


def _model_type(model_dir: Path) -> str:
    path = model_dir / "config.json"
    if not path.is_file():
        raise CheckpointError(
            f"--model {str(model_dir)!r} has no config.json; expected a model folder"
        )
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("model_type", ""))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path} is not valid JSON") from None


def load_vision_model(
    model_dir: str | os.PathLike, dtype: torch.dtype | None = None, device: str = "cpu"
) -> VisionNIAHModel:
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor

    model_dir = Path(model_dir)
    _model_type(model_dir)  # a clear error for a missing folder / config
    model = LongVAForCausalLM.from_pretrained(model_dir, dtype=dtype, device=device)
    processor = LongVAProcessor.from_pretrained(model_dir)
    return from_longva(model, processor, weights_fingerprint(model_dir))


def load_text_model(
    model_dir: str | os.PathLike, dtype: torch.dtype | None = None, device: str = "cpu"
):
    """(causal LM, tokenizer) from a plain HF causal-LM folder or the LM of a LongVA folder."""
    model_dir = Path(model_dir)
    if (
        _model_type(model_dir) == "longva"
        or (model_dir / "config.json").read_text().find('"mm_') >= 0
    ):
        vm = load_vision_model(model_dir, dtype, device)
        return vm.lm, vm.tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        lm = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"--model {str(model_dir)!r} cannot be loaded as a causal LM ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        ) from None
    return lm.to(device).eval(), tokenizer
