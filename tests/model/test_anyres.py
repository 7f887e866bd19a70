"""AnyRes (LLaVA-NeXT): base thumbnail + grids, unpadded map, one newline token per row."""

import torch
from PIL import Image

from longva.model.config import LongVAConfig, PoolingConfig
from longva.model.encoding import image_grid_layout, image_token_count, unpadded_shape
from longva.model.image_processing import anyres_canvases
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.tiny import tiny_longva_config

ANYRES_336 = LongVAConfig.from_dict({"encoding": {"scheme": "anyres"}, "pooling": {"kind": "none"}})


def test_five_llava_next_canvases():
    assert anyres_canvases(336) == [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)]


def test_counts_match_llava_next_at_336():
    # 672x336 fills a 1x2 canvas exactly: map 24x48, nothing unpadded, 24 newlines.
    assert image_grid_layout(ANYRES_336.encoding, 336, (672, 336)) == (1, 2)
    assert image_token_count(ANYRES_336, (672, 336)) == 576 + 24 * (48 + 1)
    # 500x500 -> 672x672 canvas (2x2 grids), square so no unpadding: 576 + 48*49
    assert image_token_count(ANYRES_336, (500, 500)) == 576 + 48 * 49
    # 1000x500: 672x336 keeps 672x336 px with zero waste -> 1 row x 2 cols, aspect equal: no unpad
    assert image_grid_layout(ANYRES_336.encoding, 336, (1000, 500)) == (1, 2)
    assert image_token_count(ANYRES_336, (1000, 500)) == 576 + 24 * (48 + 1)
    # 1000x300: 1008x336 keeps all 300000 px (scale 1.008) -> 1 x 3, map 24x72; aspect 3.33 > 3 so
    # rows are unpadded: new_h = int(300 * 72/1000) = 21, pad (24-21)//2 = 1 -> rows 1..22 kept
    assert image_grid_layout(ANYRES_336.encoding, 336, (1000, 300)) == (1, 3)
    assert unpadded_shape((24, 72), (1000, 300)) == (1, 23, 0, 72)
    assert image_token_count(ANYRES_336, (1000, 300)) == 576 + 22 * (72 + 1)


def test_layout_base_first_then_rows_with_newline(tokenizer):
    cfg = tiny_longva_config(len(tokenizer), scheme="anyres", pooling=PoolingConfig(kind="none"))
    model = LongVAForCausalLM(cfg).eval()
    proc = LongVAProcessor(tokenizer, cfg)
    image = Image.new("RGB", (64, 32), (200, 30, 30))  # fills a 2-cols x 1-row canvas of 32 px grids
    visual = proc.preprocess_image(image)
    assert visual.base is not None and (visual.grid_rows, visual.grid_cols) == (1, 2)
    with torch.no_grad():
        tokens = model.encode_visual(visual)
        base = model.encode_grids(visual.base[None])[0]
    side = cfg.vision.grid_side  # 4 patches per grid side, no pooling
    assert tokens.shape[0] == side * side + side * (2 * side + 1) == image_token_count(cfg, image.size)
    assert torch.allclose(tokens[: side * side], base)
    rows = tokens[side * side :].reshape(side, 2 * side + 1, -1)
    assert torch.allclose(rows[:, -1], model.image_newline.detach().expand(side, -1))


def test_anyres_video_frames_are_one_grid_each(tokenizer):
    cfg = tiny_longva_config(len(tokenizer), scheme="anyres")
    model = LongVAForCausalLM(cfg).eval()
    proc = LongVAProcessor(tokenizer, cfg)
    frames = [Image.new("RGB", (40, 40), (i * 30, 0, 0)) for i in range(5)]
    with torch.no_grad():
        tokens = model.encode_visual(proc.preprocess_video(frames))
    assert tokens.shape[0] == 5 * model.tokens_per_frame


def test_batched_encoding_equals_one_visual_at_a_time(tokenizer):
    """encode_visuals runs every grid (and AnyRes base) of a batch through the tower at once;
    each visual's tokens must be those it gets alone, in the same order."""
    for scheme in ("anyres", "unires"):
        cfg = tiny_longva_config(len(tokenizer), scheme=scheme)
        model = LongVAForCausalLM(cfg).eval()
        proc = LongVAProcessor(tokenizer, cfg)
        visuals = [
            proc.preprocess_image(Image.new("RGB", (64, 32), (200, 30, 30))),
            proc.preprocess_video([Image.new("RGB", (40, 40), (i * 40, 90, 0)) for i in range(3)]),
            proc.preprocess_image(Image.new("RGB", (32, 96), (10, 30, 220))),
        ]
        with torch.no_grad():
            batched = model.encode_visuals(visuals)
            alone = [model.encode_visual(v) for v in visuals]
        assert [b.shape for b in batched] == [a.shape for a in alone]
        assert all(torch.allclose(b, a, atol=1e-6) for b, a in zip(batched, alone)), scheme
        assert not torch.allclose(batched[0][:4], batched[2][:4])  # different images stay different
    assert model.encode_visuals([]) == []
