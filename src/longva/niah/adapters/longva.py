"""LongVA (this package's `LongVAForCausalLM`): one unit = one frame padded to a square, the
original V-NIAH prompt (`prompt_pieces`), questions verbatim, plain 0..L-1 positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from longva.errors import ConfigError
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IMAGE_TOKEN_INDEX, get_template
from longva.niah.adapters.base import Piece, VideoAdapter, VideoPiece, VideoPrompt
from longva.niah.embedding_cache import module_fingerprint, weights_fingerprint
from longva.niah.tasks.prompts import safe_tokenize


def prompt_pieces(template_name: str) -> tuple[str, str]:
    """(preprompt, postprompt) around the visual tokens + question, from the chat template.

    qwen_1_5 gives the original's strings: "<|im_start|>system\\nYou are a helpful
    assistant.<|im_end|>\\n<|im_start|>user\\n" and "<|im_end|>\\n<|im_start|>assistant\\n".
    """
    marker = "\x00"
    text = get_template(template_name).render([("user", marker)], add_generation_prompt=True)
    pre, post = text.split(marker)
    return pre, post


def _check_layout(config) -> None:
    """This adapter lays prompts out as the original V-NIAH: video first, causal attention."""
    if config.visual_position != "before_text" or config.attention != "causal":
        raise ConfigError(
            f"model config: visual_position={config.visual_position!r}, attention={config.attention!r}; `longva"
            " niah` lays out LongVA prompts as the original (before_text, causal); the toy recipe's V-NIAH"
            " (`longva reproduce` / `longva ablate`) evaluates the other layouts"
        )


def from_model(model, processor, weights_id: str | None = None) -> VideoAdapter:
    """A loaded `LongVAForCausalLM` + `LongVAProcessor` (frames padded to a square)."""
    _check_layout(model.config)
    tokenizer = processor.tokenizer
    template = model.config.template
    pre, post = (tuple(safe_tokenize(tokenizer, s)) for s in prompt_pieces(template))

    def encode(frames: list) -> torch.Tensor:
        pixels = processor.preprocess_frames([np.asarray(f) for f in frames], mode="pad")  # (F, 3, S, S)
        with torch.no_grad():
            return model.encode_frames(pixels.to(model.device, model.dtype)).cpu()  # (F, tpf, D)

    def full_forward(pieces: Sequence[Piece]) -> torch.Tensor:
        ids, feats = [], []
        for piece in pieces:
            if isinstance(piece, VideoPiece):
                ids.append(IMAGE_TOKEN_INDEX)
                feats.append(encode(list(piece.frames)).flatten(0, 1))  # (F * tpf, D)
            else:
                ids.extend(piece)
        out = model(input_ids=torch.tensor([ids]), visual_features=feats)
        return out.logits[0].float()  # (L, V)

    cfg = model.config.to_dict()
    visual_key = {
        "weights": weights_id or module_fingerprint(model),
        "config": {k: cfg[k] for k in ("vision", "projector", "pooling")},
        "frame_mode": "pad",
        "dtype": str(model.dtype),
    }
    stop = set(processor.stop_token_ids)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        stop.add(tokenizer.eos_token_id)
    return VideoAdapter(
        family="longva",
        lm=model.language_model,
        embed_text=model.embed_text,
        encode_units=encode,
        frames_per_unit=1,
        tokens_per_unit=model.tokens_per_frame,
        prompt=VideoPrompt(pre, post),
        tokenizer=tokenizer,
        decode=processor.decode,
        stop_ids=tuple(sorted(stop)),
        visual_key=visual_key,
        full_forward=full_forward,
        question_ids=lambda text: safe_tokenize(tokenizer, text),
        settings={"template": template},
    )


def load(model_dir, dtype: torch.dtype | None = None, device="cpu") -> VideoAdapter:
    """A LongVA model folder (the weights fingerprint keys its embedding cache, as before)."""
    model = LongVAForCausalLM.from_pretrained(model_dir, dtype=dtype, device=device)
    processor = LongVAProcessor.from_pretrained(model_dir)
    return from_model(model, processor, weights_fingerprint(model_dir))
