"""LLaVA-OneVision and LLaVA-NeXT-Video (transformers): square frames, per-frame pooling.

Both encode each frame on its own (vision tower -> projector/pooling), so one unit is one frame:
- LLaVA-OneVision: frames resized to the tower's square (384 px), projector, then bilinear
  2x downscaling (`apply_pooling`: ceil(side/2)^2 tokens per frame), and ONE `image_newline`
  row after the last frame of a video (the adapter's prompt `tail`);
- LLaVA-NeXT-Video: shortest edge + centre crop (224 px), CLS dropped ("default" feature
  strategy), average pooling by `spatial_pool_stride`, projector; no newline.
Embeddings come from the model's own `get_video_features`; positions are plain 0..L-1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from longva.errors import InputError
from longva.niah.adapters.base import Piece, VideoAdapter
from longva.niah.adapters.frames import FrameProcessing, square_pixels
from longva.niah.adapters.hf_common import (
    HFParts,
    decode_fn,
    embed_fn,
    in_chunks,
    prompt_of,
    question_ids_fn,
    raw_inputs,
    stop_ids,
    text_lm,
    visual_key,
)

ONEVISION_DEFAULTS = FrameProcessing(size={"height": 384, "width": 384})
NEXT_VIDEO_DEFAULTS = FrameProcessing(
    size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, do_center_crop=True
)
ENCODE_CHUNK = 16  # frames through the tower at once


def _side(config) -> int:
    return config.vision_config.image_size // config.vision_config.patch_size


def onevision_tokens_per_frame(config) -> int:
    return math.ceil(_side(config) / 2) ** 2


def next_video_tokens_per_frame(config) -> int:
    return (_side(config) // config.spatial_pool_stride) ** 2


def _encoder(parts: HFParts, tokens_per_frame: int, drop_last: int):
    model = parts.model

    @torch.no_grad()
    def encode_units(frames: list[np.ndarray]) -> torch.Tensor:
        outs = []
        for chunk in in_chunks(list(frames), ENCODE_CHUNK):
            pixels = square_pixels(chunk, parts.processing)[None]  # (1, n, 3, S, S)
            pixels = pixels.to(model.device, model.dtype)
            rows = model.model.get_video_features(pixel_values_videos=pixels).pooler_output[0]
            rows = rows[: rows.shape[0] - drop_last]  # OneVision: minus its newline
            outs.append(rows.reshape(len(chunk), tokens_per_frame, -1).cpu())
        return torch.cat(outs)  # (F, tpf, D)

    return encode_units


def _native_inputs(parts: HFParts):
    model = parts.model

    def native_inputs(pieces: Sequence[Piece]) -> dict:
        """The model's own inputs for raw pieces: ids with placeholders + pixel values."""
        ids, videos = raw_inputs(pieces, model.config.video_token_id)
        if len({len(v.frames) for v in videos}) > 1:
            raise InputError("a raw prompt's videos must have equal frame counts (one batch)")
        pixels = torch.stack([square_pixels(list(v.frames), parts.processing) for v in videos])
        return {
            "input_ids": ids.to(model.device),
            "pixel_values_videos": pixels.to(model.device, model.dtype),
        }

    return native_inputs


def _full_forward(parts: HFParts, native_inputs):
    @torch.no_grad()
    def full_forward(pieces: Sequence[Piece]) -> torch.Tensor:
        return parts.model(**native_inputs(pieces)).logits[0].float()  # (L, V)

    return full_forward


def _adapter(parts: HFParts, family: str, tpf: int, tail, modules) -> VideoAdapter:
    prompt = prompt_of(parts, tail)
    native_inputs = _native_inputs(parts)
    return VideoAdapter(
        family=family,
        lm=text_lm(parts.model),
        embed_text=embed_fn(parts.model),
        encode_units=_encoder(parts, tpf, 0 if tail is None else tail.shape[0]),
        frames_per_unit=1,
        tokens_per_unit=tpf,
        prompt=prompt,
        tokenizer=parts.tokenizer,
        decode=decode_fn(parts.tokenizer),
        stop_ids=stop_ids(parts),
        visual_key=visual_key(parts, family, modules),
        full_forward=_full_forward(parts, native_inputs),
        question_ids=question_ids_fn(parts, prompt.mid),
        native_inputs=native_inputs,
    )


def onevision(parts: HFParts) -> VideoAdapter:
    m = parts.model.model
    tail = m.image_newline.detach().cpu()[None]  # (1, D): one newline after a video's frames
    tpf = onevision_tokens_per_frame(parts.model.config)
    return _adapter(parts, "llava_onevision", tpf, tail, [m.vision_tower, m.multi_modal_projector])


def next_video(parts: HFParts) -> VideoAdapter:
    m = parts.model.model
    modules = [m.vision_tower, m.vision_resampler, m.multi_modal_projector]
    tpf = next_video_tokens_per_frame(parts.model.config)
    return _adapter(parts, "llava_next_video", tpf, None, modules)
