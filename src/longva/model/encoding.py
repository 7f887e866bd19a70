"""Visual encodings: how an image or a video becomes grids, and grids become LM tokens.

UniRes (LongVA): the image is resized/padded onto the best canvas of a x b grids (a*b <=
max_grids, (1,1) excluded), cut row-major into grids, and each grid's tokens are concatenated
(12x12 row-major per grid at 336 px with 2x2 pooling); no base thumbnail, no separators. A video
frame is exactly one grid, so a video is "an image with F grids in a row".

AnyRes (LLaVA-NeXT, for comparison): base thumbnail (plain resize) + grids on one of 5 canvases;
the grids are stitched into one map, the black padding is removed ("unpad") and a learned
`image_newline` token ends every row; the base tokens come first. Our pooling config applies to
every grid (LLaVA-NeXT itself uses `pooling.kind = none`). Video frames under AnyRes are one
pooled grid each, no newline (LLaVA-NeXT-Video).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from PIL import Image

from longva.model.config import EncodingConfig, LongVAConfig
from longva.model.image_processing import (
    anyres_canvases,
    check_image,
    divide_to_grids,
    grid_canvases,
    resize_and_pad,
    select_best_resolution,
)
from longva.model.pooling import pooled_grid_shape
from longva.model.projector import projector_output_tokens


@dataclass
class VisualInput:
    """One `<image>` placeholder's worth of pixels, ready for the vision tower."""

    kind: Literal["image", "video"]
    pixel_values: torch.Tensor  # (N, 3, S, S): image grids row-major, or video frames in time order
    grid_rows: int = 1  # image canvas layout in grids (rows x cols); 1 x N for a video
    grid_cols: int = 1
    base: torch.Tensor | None = None  # (3, S, S) AnyRes thumbnail
    image_size: tuple[int, int] | None = None  # original (W, H), needed to unpad AnyRes maps

    @property
    def num_grids(self) -> int:
        return int(self.pixel_values.shape[0])


def canvases(enc: EncodingConfig, grid_px: int) -> list[tuple[int, int]]:
    """Candidate canvases in pixels (width, height) for the configured scheme."""
    if enc.grid_pinpoints is not None:
        return [(grid_px * a, grid_px * b) for a, b in enc.grid_pinpoints]
    if enc.scheme == "anyres":
        return anyres_canvases(grid_px)
    return grid_canvases(enc.max_grids, grid_px)


def image_grid_layout(enc: EncodingConfig, grid_px: int, size: tuple[int, int]) -> tuple[int, int]:
    """(rows, cols) of grids for an image of `size` = (W, H) (`get_anyres_image_grid_shape`)."""
    width, height = select_best_resolution(size, canvases(enc, grid_px))
    return height // grid_px, width // grid_px


def image_to_grids(image: Image.Image, enc: EncodingConfig, grid_px: int) -> tuple[list[Image.Image], int, int]:
    """Resize + black-pad onto the best canvas, cut into grids row-major -> (grids, rows, cols)."""
    image = check_image(image)
    canvas_size = select_best_resolution(image.size, canvases(enc, grid_px))
    canvas = resize_and_pad(image, canvas_size)
    return divide_to_grids(canvas, grid_px), canvas_size[1] // grid_px, canvas_size[0] // grid_px


# ---- token arithmetic (no tensors) ---------------------------------------------------------


def grid_token_shape(config: LongVAConfig) -> tuple[int, int]:
    """(h, w) token map of one grid/frame after projector and pooling (12x12 for LongVA-7B)."""
    side = config.vision.grid_side
    after_projector = projector_output_tokens(config.projector, side * side)
    if after_projector == side * side:
        grid = (side, side)
    else:  # cross_attn with a custom query count: lay the queries out as a near-square map
        from longva.model.pooling import factor_near_square

        grid = factor_near_square(after_projector)
    return pooled_grid_shape(grid, config.pooling)


def tokens_per_frame(config: LongVAConfig) -> int:
    """LM tokens per video frame (= per UniRes grid): 144 for LongVA-7B."""
    h, w = grid_token_shape(config)
    return h * w


def unpadded_shape(map_hw: tuple[int, int], image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Rows/cols of a stitched AnyRes map kept by LLaVA-NeXT `unpad_image`: (top, bottom, left, right)."""
    cur_h, cur_w = map_hw
    orig_w, orig_h = image_size
    if orig_w / orig_h > cur_w / cur_h:
        new_h = int(orig_h * (cur_w / orig_w))
        pad = (cur_h - new_h) // 2
        return pad, cur_h - pad, 0, cur_w
    new_w = int(orig_w * (cur_h / orig_h))
    pad = (cur_w - new_w) // 2
    return 0, cur_h, pad, cur_w - pad


def image_token_count(config: LongVAConfig, image_size: tuple[int, int]) -> int:
    """LM tokens for one image of `image_size` = (W, H) under the configured encoding."""
    grid_px = config.vision.image_size
    rows, cols = image_grid_layout(config.encoding, grid_px, image_size)
    h, w = grid_token_shape(config)
    if config.encoding.scheme == "unires":
        return rows * cols * h * w
    top, bottom, left, right = unpadded_shape((rows * h, cols * w), image_size)
    return h * w + (bottom - top) * (right - left + 1)


# ---- merging grid features into the token sequence -------------------------------------------


def merge_grids(
    visual: VisualInput,
    grid_tokens: torch.Tensor,
    grid_hw: tuple[int, int],
    scheme: str,
    base_tokens: torch.Tensor | None = None,
    image_newline: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, h*w, D) pooled grid features -> (tokens, D) in the order the LM reads them."""
    if visual.kind == "video" or scheme == "unires":
        return grid_tokens.flatten(0, 1)  # grid-major, row-major inside each grid
    return _merge_anyres(visual, grid_tokens, grid_hw, base_tokens, image_newline)


def _merge_anyres(visual, grid_tokens, grid_hw, base_tokens, image_newline) -> torch.Tensor:
    h, w = grid_hw
    rows, cols, dim = visual.grid_rows, visual.grid_cols, grid_tokens.shape[-1]
    grid_map = grid_tokens.view(rows, cols, h, w, dim).permute(4, 0, 2, 1, 3)  # (D, rows, h, cols, w)
    grid_map = grid_map.reshape(dim, rows * h, cols * w)
    top, bottom, left, right = unpadded_shape((rows * h, cols * w), visual.image_size)
    grid_map = grid_map[:, top:bottom, left:right]  # (D, H', W')
    newline = image_newline.to(grid_map.dtype)[:, None, None].expand(dim, grid_map.shape[1], 1)
    grid_map = torch.cat([grid_map, newline], dim=-1)  # a newline token closes every row
    tokens = grid_map.flatten(1, 2).transpose(0, 1)  # (H' * (W'+1), D)
    return torch.cat([base_tokens, tokens], dim=0)
