"""Frame preprocessing of the transformers video processors, on PIL (no torchvision).

transformers' video processors (`LlavaOnevisionVideoProcessor`, `LlavaNextVideoVideoProcessor`,
`Qwen2VLVideoProcessor`) need torchvision, which has no wheel for this project's torch build.
Their steps are few and their settings live in the model folder's
`video_preprocessor_config.json` (else `preprocessor_config.json`), so they are applied here
from those settings, step for step: resize (fixed size, or shortest edge + centre crop, or
Qwen's `smart_resize` to multiples of patch * merge within [min, max] pixels), rescale by
`rescale_factor`, normalise by mean/std, and for Qwen2-VL the temporal patchify that folds two
consecutive frames into one patch. Resizing goes through PIL on uint8 frames (the processors'
PIL backend); torchvision's antialiased tensor resize can differ in the last bits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3


@dataclass(frozen=True)
class FrameProcessing:
    """The settings of one video processor (names as in its JSON config)."""

    size: dict = field(default_factory=dict)  # {"height","width"} | {"shortest_edge"} | Qwen's
    crop_size: dict | None = None
    do_center_crop: bool = False
    resample: int = BICUBIC
    rescale_factor: float = 1 / 255
    image_mean: tuple[float, ...] = CLIP_MEAN
    image_std: tuple[float, ...] = CLIP_STD
    patch_size: int = 14  # Qwen2-VL only from here on
    merge_size: int = 2
    temporal_patch_size: int = 2

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def load_processing(model_dir: Path | None, defaults: FrameProcessing) -> FrameProcessing:
    """The folder's video processor settings over `defaults` (a model without them keeps the
    family's defaults)."""
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        path = model_dir / name if model_dir is not None else None
        if path is not None and path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {k: raw[k] for k in defaults.__dataclass_fields__ if raw.get(k) is not None}
            if "min_pixels" in raw or "max_pixels" in raw:  # Qwen's older spelling
                known["size"] = {
                    "shortest_edge": raw.get("min_pixels"),
                    "longest_edge": raw.get("max_pixels"),
                }
            for key in ("image_mean", "image_std"):
                if key in known:
                    known[key] = tuple(known[key])
            return FrameProcessing(**{**defaults.to_dict(), **known})
    return defaults


def _resize(frame: np.ndarray, hw: tuple[int, int], resample: int) -> np.ndarray:
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    if image.size != (hw[1], hw[0]):
        image = image.resize((hw[1], hw[0]), resample=resample)
    return np.asarray(image.convert("RGB"))


def _shortest_edge_hw(h: int, w: int, shortest: int) -> tuple[int, int]:
    """transformers' `get_resize_output_image_size(default_to_square=False)`."""
    short, long = (h, w) if h <= w else (w, h)
    new_short, new_long = shortest, int(shortest * long / short)
    return (new_short, new_long) if h <= w else (new_long, new_short)


def _center_crop(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = frame.shape[:2]
    top, left = max(0, (h - hw[0]) // 2), max(0, (w - hw[1]) // 2)
    return frame[top : top + hw[0], left : left + hw[1]]


def _normalise(frames: list[np.ndarray], p: FrameProcessing) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).float() * p.rescale_factor  # (n, H, W, 3)
    mean, std = torch.tensor(p.image_mean), torch.tensor(p.image_std)
    return ((x - mean) / std).permute(0, 3, 1, 2).contiguous()  # (n, 3, H, W)


def square_pixels(frames: list[np.ndarray], p: FrameProcessing) -> torch.Tensor:
    """LLaVA-OneVision / LLaVA-NeXT-Video frames -> (n, 3, S, S) pixel values."""
    out = []
    for frame in frames:
        if "shortest_edge" in p.size:
            h, w = np.asarray(frame).shape[:2]
            frame = _resize(frame, _shortest_edge_hw(h, w, p.size["shortest_edge"]), p.resample)
        else:
            frame = _resize(frame, (p.size["height"], p.size["width"]), p.resample)
        if p.do_center_crop and p.crop_size:
            frame = _center_crop(frame, (p.crop_size["height"], p.crop_size["width"]))
        out.append(frame)
    return _normalise(out, p)


def qwen_frame_hw(h: int, w: int, p: FrameProcessing) -> tuple[int, int]:
    """The size Qwen2-VL's processor resizes an (h, w) frame to (`smart_resize`)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    lo, hi = p.size.get("shortest_edge"), p.size.get("longest_edge")
    return smart_resize(h, w, factor=p.patch_size * p.merge_size, min_pixels=lo, max_pixels=hi)


def qwen_patches(frames: list[np.ndarray], hw: tuple[int, int], p: FrameProcessing):
    """Frames (a multiple of temporal_patch_size, already of one size) -> (patches (N, C*t*ps*ps),
    grid (t, gh, gw)), the layout of `Qwen2VLVideoProcessor.patchify`."""
    pixels = _normalise([_resize(f, hw, p.resample) for f in frames], p)  # (n, 3, H, W)
    n, c, h, w = pixels.shape
    t, ps, m = p.temporal_patch_size, p.patch_size, p.merge_size
    gt, gh, gw = n // t, h // ps, w // ps
    x = pixels.view(gt, t, c, gh // m, m, ps, gw // m, m, ps)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (gt, gh/m, gw/m, m, m, C, t, ps, ps)
    return x.reshape(gt * gh * gw, c * t * ps * ps), (gt, gh, gw)
