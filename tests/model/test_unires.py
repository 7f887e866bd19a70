"""UniRes: canvases, best-resolution choice, grid layout, token counts and token order."""

import pytest
import torch
from PIL import Image

from longva.model.config import EncodingConfig, LongVAConfig, PoolingConfig, ProjectorConfig
from longva.model.encoding import image_grid_layout, image_token_count, tokens_per_frame
from longva.model.image_processing import grid_canvases, resize_and_pad, select_best_resolution
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.tiny import tiny_longva_config, tiny_vision_config

UNIRES = EncodingConfig(scheme="unires", max_grids=49)


def test_200_canvases_like_longva_7b():
    canvases = grid_canvases(49, 336)
    assert len(canvases) == 200
    assert canvases[:2] == [(336, 672), (336, 1008)] and canvases[-1] == (16464, 336)
    assert (336, 336) not in canvases
    assert all((w // 336) * (h // 336) <= 49 for w, h in canvases)


# (W, H) -> (rows, cols), worked out by hand from the effective/wasted rule:
CASES = [
    ((1, 1), (2, 1)),  # every canvas holds it; smallest area = 2 grids; (336,672) comes first
    ((336, 336), (2, 1)),  # (1,1) is excluded, so a 336px square still spans 2 grids
    ((336, 672), (2, 1)),  # exact canvas
    ((672, 336), (1, 2)),  # exact canvas
    ((1008, 1008), (3, 3)),  # exact canvas
    ((2352, 2352), (7, 7)),  # exact 7x7 canvas
    ((10000, 50), (1, 30)),  # 30*336 = 10080 >= 10000 is the smallest full-width row
    ((50, 10000), (30, 1)),
    ((700, 400), (2, 3)),  # 1008x672 holds it at scale >= 1 with the least waste
    ((1000, 300), (1, 3)),  # 1008x336 holds 1000x300 at scale 1.008
    ((5000, 5000), (7, 7)),  # too big for any canvas: 7x7 keeps the most pixels
    ((400, 300), (1, 2)),  # 672x336 holds it at scale 1.12 (width-limited... height 336 >= 300)
    ((300, 400), (2, 1)),
]


@pytest.mark.parametrize("size,layout", CASES)
def test_grid_layout(size, layout):
    assert image_grid_layout(UNIRES, 336, size) == layout
    cfg = LongVAConfig()
    assert image_token_count(cfg, size) == layout[0] * layout[1] * 144


def test_best_resolution_prefers_full_pixels_then_least_waste():
    canvases = grid_canvases(49, 336)
    w, h = select_best_resolution((700, 400), canvases)
    assert w >= 700 and h >= 400
    smaller = [(cw, ch) for cw, ch in canvases if cw >= 700 and ch >= 400 and cw * ch < w * h]
    assert not smaller


def test_resize_and_pad_keeps_aspect_on_black():
    image = Image.new("RGB", (100, 50), (255, 255, 255))
    canvas = resize_and_pad(image, (336, 672))
    assert canvas.size == (336, 672)
    assert canvas.getpixel((0, 0)) == (0, 0, 0)  # black padding above
    assert canvas.getpixel((168, 336)) == (255, 255, 255)  # content centred
    # resized content is 336 x 168 (aspect 2:1), centred vertically: rows 252..419
    assert canvas.getpixel((168, 251)) == (0, 0, 0) and canvas.getpixel((168, 252)) == (255, 255, 255)


def test_video_tokens_144_per_frame_at_336_and_scaled_for_tiny_towers():
    cfg = LongVAConfig()
    assert tokens_per_frame(cfg) == 144
    tiny = tiny_longva_config(100)  # 32 px / patch 8 -> 4x4 -> 2x2 pooled
    assert tokens_per_frame(tiny) == 4


def test_video_of_f_frames_at_336_gives_f_times_144(tokenizer):
    vision = tiny_vision_config(image_size=336, patch_size=14, hidden_size=16, num_layers=1)
    cfg = LongVAConfig(vision=vision, lm=tiny_longva_config(len(tokenizer)).lm)
    model = LongVAForCausalLM(cfg).eval()
    proc = LongVAProcessor(tokenizer, cfg)
    frames = [Image.new("RGB", (64, 48), (i, i, i)) for i in range(3)]
    with torch.no_grad():
        tokens = model.encode_visual(proc.preprocess_video(frames))
    assert tokens.shape == (3 * 144, model.lm_hidden_size)


class PatchValueTower(torch.nn.Module):
    """Identity-like tower: each patch token = mean red value of its patch (and its index / 1e4)."""

    def __init__(self, patch):
        super().__init__()
        self.patch = patch

    def forward(self, pixel_values, chunk_size=None):
        red = pixel_values[:, 0]  # (N, S, S)
        n, s, _ = red.shape
        g = s // self.patch
        means = red.reshape(n, g, self.patch, g, self.patch).mean(dim=(2, 4)).reshape(n, g * g)
        index = torch.arange(g * g, dtype=means.dtype) / 1e4
        return torch.stack([means, index.expand(n, -1)], dim=-1)  # (N, g*g, 2)


def test_token_order_is_grid_row_major_then_row_major_inside(tokenizer):
    cfg = tiny_longva_config(len(tokenizer), projector="identity", lm_hidden=2, max_grids=6)
    cfg.lm.hf_config.update(num_attention_heads=1, num_key_value_heads=1)
    cfg.vision.image_mean, cfg.vision.image_std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    cfg.vision.hf_config["hidden_size"] = 2
    model = LongVAForCausalLM(cfg).eval()
    model.vision_tower = PatchValueTower(8)
    proc = LongVAProcessor(tokenizer, cfg)
    # a 3 cols x 2 rows canvas of 32px grids, each grid a distinct constant red level
    levels = [[10, 20, 30], [40, 50, 60]]
    image = Image.new("RGB", (96, 64))
    for r in range(2):
        for c in range(3):
            image.paste(Image.new("RGB", (32, 32), (levels[r][c], 0, 0)), (32 * c, 32 * r))
    visual = proc.preprocess_image(image)
    assert (visual.grid_rows, visual.grid_cols) == (2, 3)
    with torch.no_grad():
        tokens = model.encode_visual(visual)  # (6 grids * 4 tokens, 2)
    assert tokens.shape == (24, 2)
    grid_values = (tokens[:, 0].reshape(6, 4)[:, 0] * 255).round().tolist()
    assert grid_values == [10, 20, 30, 40, 50, 60]  # grids row-major
    # inside a grid: 4x4 patches pooled 2x2 -> token k averages patches of block (k//2, k%2)
    patch_ids = torch.arange(16).reshape(4, 4).float()
    expected = torch.nn.functional.avg_pool2d(patch_ids[None, None], 2).flatten() / 1e4
    assert torch.allclose(tokens[:4, 1], expected, atol=1e-6)


def test_pooling_and_projector_change_tokens_per_frame():
    cfg = LongVAConfig()
    cfg.pooling = PoolingConfig(kind="avg", kernel=3)
    assert tokens_per_frame(cfg) == 64
    cfg.pooling = PoolingConfig(kind="none")
    assert tokens_per_frame(cfg) == 576
    cfg.projector = ProjectorConfig(type="cross_attn", num_queries=100)
    assert tokens_per_frame(cfg) == 100
