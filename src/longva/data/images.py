"""Load an image file as an 8-bit RGB PIL image, whatever its mode.

LLaVA/LongVA load images with `Image.open(path).convert("RGB")`. That is kept for every mode
where it is well defined (RGB, L, P without transparency, CMYK, YCbCr, 1) and changed where it
is not:
- Transparency (RGBA, LA, PA, P/RGB/L with a transparent colour): `convert` keeps whatever RGB
  an encoder left under fully transparent pixels (often black, sometimes leftover colours).
  We composite on BLACK, which reproduces LLaVA's output for the common encoder output
  (transparent pixels stored as 0) and is well defined otherwise. Pass `background` to change it.
- 16/32-bit integer grayscale (I;16*, I): `convert` clips to 255, turning most of a 16-bit image
  white; we scale 0..65535 to 0..255 instead.
- EXIF orientation (phone photos) is applied, so the model sees the picture upright.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from longva.errors import InputError

BLACK = (0, 0, 0)
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def load_image(path: str | os.PathLike, background: tuple[int, int, int] = BLACK) -> Image.Image:
    """The image at `path` as an RGB PIL image (see the module doc for each mode).

    Raises InputError (one line naming the file) when it is missing, empty or unreadable.
    """
    image = _open(Path(path))
    image = ImageOps.exif_transpose(image) or image
    if image.mode in SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_rgb(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: image not found; expected an existing PNG/JPEG/WebP file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes); expected a PNG/JPEG/WebP image")
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated file fails here, not later in preprocessing
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{path}: not a readable image ({reason}); expected a PNG/JPEG/WebP image") from e
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.uint32)  # (H, W) 0..65535
    # Round to nearest: 65535 -> 255, 32768 -> 128 (x / 257 maps the ranges exactly).
    gray = ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")  # (H, W) uint8 -> "L" -> RGB
