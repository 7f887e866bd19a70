"""Qwen2-VL and Qwen2.5-VL (transformers): temporal patches of two frames, 3-D M-RoPE.

- A unit is one temporal patch: `temporal_patch_size` (2) consecutive frames folded into one
  patch grid (`Qwen2VLVideoProcessor.patchify`), merged 2x2 into (gh/2)*(gw/2) tokens. The vision
  encoder attends within one temporal patch only (Qwen2.5-VL's windows too), so a unit's
  embedding does not depend on its neighbours and can be cached. A still needle image fills one
  unit (the image twice, as Qwen's processors repeat an image over its temporal patch), so a
  haystack of T frames holds T/2 units and frame counts must be even.
- All frames of a video must share one size: every frame (needles included) is first resized to
  the haystack's frame size (`fit_frames`), then `smart_resize`d as the processor does.
- Positions: text tokens advance 1-D; a video's tokens get (t, h, w) ids. They come from the
  model's own `get_rope_index` on the cell's token types (text 0, video 2; one video = a maximal
  stretch of visual rows), with `second_per_grid_ts` = temporal_patch_size / fps for
  Qwen2.5-VL's time-scaled t axis. They are a function of the prefix, so KV reuse holds (the
  evaluator checks it anyway).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from longva.errors import InputError
from longva.niah.adapters.base import Piece, VideoAdapter
from longva.niah.adapters.frames import FrameProcessing, qwen_frame_hw, qwen_patches
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
from longva.niah.sequence import Runs, Source

DEFAULTS = FrameProcessing(size={"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28})
ENCODE_CHUNK = 8  # temporal patches through the encoder at once
TEXT, VIDEO = 0, 2  # mm_token_type_ids values


class QwenFrames:
    """The frame size of a run and what follows from it (grid, tokens per unit)."""

    def __init__(self, parts: HFParts):
        vc = parts.model.config.vision_config
        self.processing = FrameProcessing(
            **{
                **parts.processing.to_dict(),
                "patch_size": vc.patch_size,
                "merge_size": vc.spatial_merge_size,
                "temporal_patch_size": vc.temporal_patch_size,
            }
        )
        self.hw: tuple[int, int] | None = None  # resized (H, W), set by fit()

    def fit(self, frame_hw: tuple[int, int]) -> None:
        self.hw = tuple(int(x) for x in qwen_frame_hw(*frame_hw, self.processing))

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.hw[0] // self.processing.patch_size, self.hw[1] // self.processing.patch_size

    @property
    def tokens_per_unit(self) -> int:
        m = self.processing.merge_size
        return (self.grid_hw[0] // m) * (self.grid_hw[1] // m)

    def patches(self, frames: list[np.ndarray]):
        if self.hw is None:
            raise ValueError("call adapter.fit_frames(frame_hw) before encoding Qwen2-VL frames")
        return qwen_patches(frames, self.hw, self.processing)


def _encoder(parts: HFParts, qf: QwenFrames):
    model, fpu = parts.model, qf.processing.temporal_patch_size

    @torch.no_grad()
    def encode_units(frames: list[np.ndarray]) -> torch.Tensor:
        if len(frames) % fpu:
            raise InputError(f"{len(frames)} frames: Qwen2-VL encodes them in pairs; expected even")
        outs = []
        for chunk in in_chunks(list(frames), ENCODE_CHUNK * fpu):
            patches, grid = qf.patches(chunk)
            thw = torch.tensor([grid], device=model.device)
            pixels = patches.to(model.device, model.dtype)
            rows = model.model.get_video_features(pixels, thw).pooler_output[0]
            outs.append(rows.reshape(grid[0], qf.tokens_per_unit, -1).cpu())
        return torch.cat(outs)  # (units, tpu, D)

    return encode_units


def rope_index(model, types: torch.Tensor, grids: list, seconds_per_grid: float) -> torch.Tensor:
    """(3, 1, L) position ids from the model's own `get_rope_index`."""
    thw = torch.tensor(grids, dtype=torch.long) if grids else None
    spg = torch.full((len(grids),), float(seconds_per_grid)) if grids else None
    ids = torch.zeros(1, types.shape[0], dtype=torch.long)
    pos, _ = model.model.get_rope_index(
        ids, types[None], video_grid_thw=thw, second_per_grid_ts=spg
    )
    return pos


def _position_fn(parts: HFParts, qf: QwenFrames, settings: dict):
    def for_sources(sources: Mapping[str, Source]):
        def positions(runs: Runs) -> torch.Tensor:
            modality = [getattr(sources[r.source], "modality", "text") for r in runs]
            types = torch.cat(
                [
                    torch.full((r.size,), VIDEO if m == "video" else TEXT)
                    for r, m in zip(runs, modality)
                ]
            )
            grids = []
            for is_video, group in itertools.groupby(
                zip(runs, modality), lambda x: x[1] == "video"
            ):
                if is_video:
                    rows = sum(r.size for r, _ in group)
                    grids.append([rows // qf.tokens_per_unit, *qf.grid_hw])
            return rope_index(parts.model, types, grids, settings["seconds_per_grid"])

        return positions

    return for_sources


def _native_inputs(parts: HFParts, qf: QwenFrames, settings: dict):
    model = parts.model
    time_scaled = "second_per_grid_ts" in inspect.signature(type(model).forward).parameters

    def native_inputs(pieces: Sequence[Piece]) -> dict:
        """The model's own inputs for raw pieces (as its processor would make them)."""
        ids, videos = raw_inputs(pieces, model.config.video_token_id)
        made = [qf.patches(list(v.frames)) for v in videos]
        types = (ids == model.config.video_token_id).int() * VIDEO
        inputs = {
            "input_ids": ids.to(model.device),
            "mm_token_type_ids": types.to(model.device),
            "pixel_values_videos": torch.cat([p for p, _ in made]).to(model.device, model.dtype),
            "video_grid_thw": torch.tensor([g for _, g in made], device=model.device),
        }
        if time_scaled:  # Qwen2.5-VL: seconds per temporal patch space out the t ids
            spg = float(settings["seconds_per_grid"])
            inputs["second_per_grid_ts"] = torch.full((len(made),), spg, device=model.device)
        return inputs

    return native_inputs


def _full_forward(parts: HFParts, native_inputs):
    @torch.no_grad()
    def full_forward(pieces: Sequence[Piece]) -> torch.Tensor:
        return parts.model(**native_inputs(pieces)).logits[0].float()  # (L, V)

    return full_forward


def qwen_vl(parts: HFParts, family: str, fps: float = 1.0) -> VideoAdapter:
    qf = QwenFrames(parts)
    fpu = qf.processing.temporal_patch_size
    settings = {"seconds_per_grid": fpu / fps, "fps": fps}
    prompt = prompt_of(parts)
    native_inputs = _native_inputs(parts, qf, settings)
    adapter = VideoAdapter(
        family=family,
        lm=text_lm(parts.model),
        embed_text=embed_fn(parts.model),
        encode_units=_encoder(parts, qf),
        frames_per_unit=fpu,
        tokens_per_unit=0,  # known once the frame size is (fit_frames)
        prompt=prompt,
        tokenizer=parts.tokenizer,
        decode=decode_fn(parts.tokenizer),
        stop_ids=stop_ids(parts),
        visual_key={},
        full_forward=_full_forward(parts, native_inputs),
        native_inputs=native_inputs,
        question_ids=question_ids_fn(parts, prompt.mid),
        position_fn=_position_fn(parts, qf, settings),
        settings=settings,
    )
    base_key = visual_key(parts, family, [parts.model.model.visual])

    def fit_frames(frame_hw: tuple[int, int]) -> None:
        qf.fit(frame_hw)
        adapter.tokens_per_unit = qf.tokens_per_unit
        adapter.visual_key = {**base_key, "frame_hw": list(qf.hw)}

    adapter.fit_frames = fit_frames
    return adapter
