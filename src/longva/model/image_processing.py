"""Pixel-level preprocessing, exactly as LongVA / LLaVA-NeXT do it (PIL in, tensors out).

All sizes are (width, height) like PIL's `Image.size`, and canvases are listed as
(width_px, height_px) like the original `image_grid_pinpoints`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from longva.errors import InputError


def check_image(image: Image.Image, what: str = "image") -> Image.Image:
    """Refuse empty images with a one-line error; return the image as RGB."""
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InputError(f"{what} has {width}x{height} pixels; expected at least 1x1")
    return image if image.mode == "RGB" else image.convert("RGB")


def grid_canvases(max_grids: int, grid_px: int, include_single: bool = False) -> list[tuple[int, int]]:
    """UniRes canvas sizes: (grid_px*a, grid_px*b) for a*b <= max_grids, sorted by a then b.

    With max_grids=49 and grid_px=336 this is LongVA-7B's 200-entry `image_grid_pinpoints`
    ((1, 1) is excluded, so an image always spans at least 2 grids).
    """
    out = []
    for a in range(1, max_grids + 1):
        for b in range(1, max_grids // a + 1):
            if (a, b) == (1, 1) and not include_single:
                continue
            out.append((grid_px * a, grid_px * b))
    return out


ANYRES_GRIDS = ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))  # LLaVA-NeXT pinpoints / 336


def anyres_canvases(grid_px: int) -> list[tuple[int, int]]:
    """LLaVA-NeXT's 5 pinpoints (336x672, 672x336, 672x672, 1008x336, 336x1008), scaled."""
    return [(grid_px * a, grid_px * b) for a, b in ANYRES_GRIDS]


def select_best_resolution(size: tuple[int, int], canvases: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Pick the canvas that keeps the most image pixels; ties go to the least wasted area.

    Same rule and iteration order as LLaVA-NeXT `select_best_resolution`.
    """
    width, height = size
    best, best_effective, best_wasted = None, -1, math.inf
    for cw, ch in canvases:
        scale = min(cw / width, ch / height)
        dw, dh = int(width * scale), int(height * scale)
        effective = min(dw * dh, width * height)
        wasted = cw * ch - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (cw, ch), effective, wasted
    assert best is not None, "no candidate canvases"
    return best


def resize_and_pad(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Aspect-preserving resize into `target`, centred on a black canvas (LLaVA-NeXT rule)."""
    width, height = image.size
    tw, th = target
    scale_w, scale_h = tw / width, th / height
    if scale_w < scale_h:
        new_w, new_h = tw, min(math.ceil(height * scale_w), th)
    else:
        new_w, new_h = min(math.ceil(width * scale_h), tw), th
    resized = image.resize((new_w, new_h))  # PIL default resample, as the original
    canvas = Image.new("RGB", (tw, th), (0, 0, 0))
    canvas.paste(resized, ((tw - new_w) // 2, (th - new_h) // 2))
    return canvas


def divide_to_grids(image: Image.Image, grid_px: int) -> list[Image.Image]:
    """Cut a canvas into grid_px squares, row-major (outer loop over y, inner over x)."""
    width, height = image.size
    return [
        image.crop((x, y, x + grid_px, y + grid_px))
        for y in range(0, height, grid_px)
        for x in range(0, width, grid_px)
    ]


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Pad the short side so the image is square, content centred (LLaVA `expand2square`)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def resize_shortest_and_center_crop(image: Image.Image, size: int) -> Image.Image:
    """CLIP processor geometry: shortest edge -> size (bicubic), then a centred size x size crop."""
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """PIL RGB -> normalised float tensor (3, H, W): rescale 1/255 then (x - mean) / std."""
    return normalise_pixels(np.asarray(image), mean, std)


def normalise_pixels(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 RGB (..., H, W, 3) -> normalised float tensor (..., 3, H, W): rescale 1/255, (x - mean) / std."""
    tensor = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0).movedim(-1, -3)
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (tensor - mean_t) / std_t


def mean_color(mean: Sequence[float]) -> tuple[int, int, int]:
    """The padding colour of V-NIAH frames: the normalisation mean in 0..255 (122,116,104 for CLIP)."""
    return tuple(int(x * 255) for x in mean)  # type: ignore[return-value]
