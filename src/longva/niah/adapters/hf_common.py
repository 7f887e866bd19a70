"""What the transformers video LMMs share: loading a folder, the prompt from the chat template,
text embedding, the LM view, the visual cache key, the raw-input builder of `full_forward`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from longva.errors import CheckpointError
from longva.niah.adapters.base import Piece, TextLM, VideoPiece, VideoPrompt, stop_ids_of
from longva.niah.adapters.chat import load_chat_template, split_template
from longva.niah.adapters.frames import FrameProcessing, load_processing
from longva.niah.embedding_cache import module_fingerprint
from longva.niah.tasks.prompts import safe_tokenize


@dataclass
class HFParts:
    """A loaded transformers VLM and what comes with it in its folder."""

    model: torch.nn.Module  # *ForConditionalGeneration
    tokenizer: object
    processing: FrameProcessing
    template: str | None
    where: str  # for messages: the folder or "<in memory>"


def load_parts(model_cls, model_dir: Path, defaults: FrameProcessing, dtype, device) -> HFParts:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no library warnings in the user's terminal
    hf_logging.disable_progress_bar()
    try:
        model = model_cls.from_pretrained(str(model_dir), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise CheckpointError(
            f"--model {str(model_dir)!r} cannot be loaded as {model_cls.__name__} ({first})"
        ) from None
    template = load_chat_template(model_dir, tokenizer)
    processing = load_processing(model_dir, defaults)
    return HFParts(model.to(device).eval(), tokenizer, processing, template, str(model_dir))


def video_token(parts: HFParts) -> str:
    return parts.tokenizer.convert_ids_to_tokens(parts.model.config.video_token_id)


def prompt_of(parts: HFParts, tail: torch.Tensor | None = None) -> VideoPrompt:
    pre, mid, post = split_template(
        parts.tokenizer, parts.template, video_token(parts), parts.where
    )
    tok = parts.tokenizer
    return VideoPrompt(tuple(safe_tokenize(tok, pre)), tuple(safe_tokenize(tok, post)), mid, tail)


def question_ids_fn(parts: HFParts, mid: str):
    """Questions follow the template's own separator (a needle question's leading newlines,
    written for LongVA's bare layout, would double it)."""
    return lambda text: safe_tokenize(parts.tokenizer, mid + text.lstrip("\n"))


def embed_fn(model: torch.nn.Module):
    emb = model.get_input_embeddings()
    device = emb.weight.device
    return lambda ids: emb(torch.as_tensor(ids, dtype=torch.long, device=device))


def text_lm(model: torch.nn.Module) -> TextLM:
    return TextLM(model.model.language_model, model.lm_head)


def decode_fn(tokenizer):
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)


def stop_ids(parts: HFParts) -> tuple[int, ...]:
    tok = parts.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tok.get_vocab() else None
    return stop_ids_of(tok, im_end)


def visual_key(parts: HFParts, family: str, modules: Sequence[torch.nn.Module], **extra) -> dict:
    """The model's vision path: its modules' fingerprints, the frame processing, the dtype."""
    h = hashlib.sha256()
    for module in modules:
        h.update(module_fingerprint(module).encode())
    return {
        "family": family,
        "vision": h.hexdigest()[:20],
        "processing": parts.processing.to_dict(),
        "dtype": str(parts.model.dtype),
        **extra,
    }


def raw_inputs(
    pieces: Sequence[Piece], video_token_id: int
) -> tuple[torch.Tensor, list[VideoPiece]]:
    """(input_ids (1, L) with `tokens` placeholders per video, the videos in order)."""
    ids, videos = [], []
    for piece in pieces:
        if isinstance(piece, VideoPiece):
            ids.extend([video_token_id] * piece.tokens)
            videos.append(piece)
        else:
            ids.extend(int(i) for i in piece)
    return torch.tensor([ids]), videos


def in_chunks(frames: list, size: int):
    for i in range(0, len(frames), size):
        yield frames[i : i + size]
