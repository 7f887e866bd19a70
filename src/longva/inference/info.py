"""What a model directory holds: config summary, parameter counts, token budget per frame.

Nothing is loaded: parameters are counted on a model built on the `meta` device (no memory),
so `longva info` answers in a second even for a 7B checkpoint.

Context: `config.max_length` when set (the model refuses longer sequences), else the LM's
`max_position_embeddings`. `max_frames` is how many video frames fit in it next to the
canonical one-video prompt with an empty question, with no room kept for the answer.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from longva.model.checkpoint import load_config
from longva.model.config import LongVAConfig
from longva.model.encoding import grid_token_shape, tokens_per_frame
from longva.model.modeling_longva import LongVAForCausalLM, build_lm_config


def model_info(model_dir: str | os.PathLike) -> dict:
    """A JSON-ready summary of the model in `model_dir` (see the module doc)."""
    model_dir = Path(model_dir)
    config = load_config(model_dir)
    lm = build_lm_config(config)
    context, source = context_length(config, lm)
    overhead = prompt_overhead(model_dir, config)
    per_frame = tokens_per_frame(config)
    return {
        "model_dir": str(model_dir),
        "vision_tower": _vision_summary(config),
        "projector": {"type": config.projector.type},
        "pooling": {k: v for k, v in vars(config.pooling).items() if v is not None},
        "encoding": dict(vars(config.encoding)),
        "language_model": _lm_summary(config, lm),
        "template": config.template,
        "parameters": parameter_counts(config),
        "tokens_per_frame": per_frame,
        "tokens_per_frame_grid": list(grid_token_shape(config)),
        "max_image_tokens": per_frame * _max_image_grids(config),
        "context_length": context,
        "context_source": source,
        "prompt_overhead_tokens": overhead,
        "max_frames": max(context - (overhead or 0), 0) // per_frame if context else None,
    }


def context_length(config: LongVAConfig, lm_config) -> tuple[int | None, str]:
    if config.max_length is not None:
        return int(config.max_length), "max_length"
    value = getattr(lm_config, "max_position_embeddings", None)
    return (int(value) if value else None), "max_position_embeddings"


def prompt_overhead(model_dir: Path, config: LongVAConfig) -> int | None:
    """Text tokens of the one-video prompt with an empty question (None without a tokenizer)."""
    from longva.errors import CheckpointError
    from longva.inference.pipeline import transformers_errors_only
    from longva.model.processor import LongVAProcessor

    try:
        with transformers_errors_only():
            processor = LongVAProcessor.from_pretrained(model_dir, config=config)
    except CheckpointError:
        return None
    ids = processor.encode_prompt(processor.build_messages("", 1))  # (1, L)
    return int(ids.shape[1]) - processor.count_placeholders(ids)


def parameter_counts(config: LongVAConfig) -> dict[str, int]:
    """Parameters per part and in total (tied embeddings counted once)."""
    with torch.device("meta"):
        model = LongVAForCausalLM(config)
    counts = {
        "vision_tower": _count(model.vision_tower),
        "projector": _count(model.projector),
        "pooling": _count(model.pooling),
        "image_newline": model.image_newline.numel() if model.image_newline is not None else 0,
        "language_model": _count(model.language_model),
    }
    counts["total"] = _count(model)
    return counts


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())  # parameters() yields a tied weight once


def _vision_summary(config: LongVAConfig) -> dict:
    v = config.vision
    return {
        "type": v.type, "name_or_path": v.name_or_path, "image_size": v.image_size,
        "patch_size": v.patch_size, "hidden_size": v.hidden_size,
        "num_layers": int(v.hf_config.get("num_hidden_layers", 12)), "select_layer": v.select_layer,
        "select_feature": v.select_feature, "frozen": v.frozen,
    }


def _lm_summary(config: LongVAConfig, lm) -> dict:
    rope = getattr(lm, "rope_parameters", None) or {}
    return {
        "model_type": config.lm.model_type,
        "hidden_size": lm.hidden_size,
        "num_layers": lm.num_hidden_layers,
        "num_attention_heads": lm.num_attention_heads,
        "num_key_value_heads": getattr(lm, "num_key_value_heads", lm.num_attention_heads),
        "intermediate_size": getattr(lm, "intermediate_size", None),
        "vocab_size": lm.vocab_size,
        "max_position_embeddings": getattr(lm, "max_position_embeddings", None),
        "rope_theta": rope.get("rope_theta"),
        "tie_word_embeddings": bool(getattr(lm, "tie_word_embeddings", False)),
    }


def _max_image_grids(config: LongVAConfig) -> int:
    enc = config.encoding
    if enc.grid_pinpoints:
        return max(a * b for a, b in enc.grid_pinpoints)
    return 5 if enc.scheme == "anyres" else enc.max_grids  # AnyRes: base + up to 4 grids


def format_info(info: dict) -> str:
    """Human-readable lines for `longva info`."""
    p, lm, v = info["parameters"], info["language_model"], info["vision_tower"]
    ctx = info["context_length"]
    lines = [
        f"model:            {info['model_dir']}",
        f"vision tower:     {v['type']} {v['name_or_path'] or ''} {v['image_size']}px/{v['patch_size']}"
        f" width {v['hidden_size']}, {v['num_layers']} layers, features of layer {v['select_layer']} "
        f"({v['select_feature']})",
        f"projector:        {info['projector']['type']}",
        f"pooling:          {', '.join(f'{k}={x}' for k, x in info['pooling'].items())}",
        f"encoding:         {', '.join(f'{k}={_short(x)}' for k, x in info['encoding'].items())}",
        f"language model:   {lm['model_type']} hidden {lm['hidden_size']}, {lm['num_layers']} layers,"
        f" {lm['num_attention_heads']} heads ({lm['num_key_value_heads']} KV), vocab {lm['vocab_size']}",
        f"RoPE theta:       {lm['rope_theta']:g}" if lm["rope_theta"] else "RoPE theta:       (model default)",
        f"template:         {info['template']}",
        "parameters:       " + ", ".join(f"{k} {_human(n)}" for k, n in p.items()),
        f"tokens per frame: {info['tokens_per_frame']} ({'x'.join(map(str, info['tokens_per_frame_grid']))});"
        f" up to {info['max_image_tokens']} per image",
        f"context:          {ctx if ctx else 'unknown'} tokens (from {info['context_source']})",
        f"max frames:       {info['max_frames']} (after a {info['prompt_overhead_tokens']}-token prompt, no room for "
        "the answer)",
    ]
    return "\n".join(lines)


def _short(value) -> str:
    """A long list (LongVA's 200 grid pinpoints) as its length."""
    return f"[{len(value)} entries]" if isinstance(value, list | tuple) and len(value) > 6 else str(value)


def _human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit} ({n:,})"
    return str(n)
