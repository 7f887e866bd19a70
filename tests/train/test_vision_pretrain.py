"""Contrastive tower pretraining: the dual encoder trains, and its vision weights drive the tower."""

import numpy as np
import pytest
import torch

from longva.data.toy.colours import COLOURS, CaptionedImages, brightness_word
from longva.model.vision_tower import VisionTower
from longva.recipes.config import RecipeConfig
from longva.recipes.stages import build_tokenizer, caption_batches
from longva.train.vision_pretrain import (
    TextTowerConfig,
    build_dual_encoder,
    caption_retrieval_accuracy,
    contrastive_loss_fn,
    tower_state_dict,
)


@pytest.fixture(scope="module")
def setup():
    cfg = RecipeConfig()
    return cfg, build_tokenizer(cfg)


def test_captioned_images_are_seeded_and_describe_the_square():
    data = CaptionedImages(32, square_fraction=0.5)
    pixels, captions = data.batch(0, 3, 64)
    again, same = data.batch(0, 3, 64)
    assert pixels.shape == (64, 32, 32, 3) and np.array_equal(pixels, again) and captions == same
    squares = [c for c in captions if c.endswith("square")]
    assert 10 < len(squares) < 54 and {c.split()[1] for c in squares} <= set(COLOURS)
    for p, c in zip(pixels, captions):
        if not c.endswith("square"):
            assert c == f"a {brightness_word(p)} picture"


@pytest.mark.parametrize("tower_type", ["clip", "siglip"])
def test_dual_encoder_vision_side_has_the_tower_layout(setup, tower_type):
    cfg, tok = setup
    vision = cfg.model.vision
    vision = type(vision)(**{**vision.__dict__, "type": tower_type})
    dual = build_dual_encoder(vision, TextTowerConfig(), len(tok), tok.eos_token_id, tok.pad_token_id)
    tower = VisionTower(vision)
    tower.model.load_state_dict(tower_state_dict(dual))  # strict: every key and shape matches
    x = torch.randn(2, 3, vision.image_size, vision.image_size)
    assert torch.equal(tower(x), VisionTower(vision, dual.vision_model)(x))


def test_contrastive_training_learns_to_match_captions(setup):
    cfg, tok = setup
    stage = cfg.stages.v0_vision
    torch.manual_seed(0)
    dual = build_dual_encoder(cfg.model.vision, stage.text_tower, len(tok), tok.eos_token_id, tok.pad_token_id)
    stage.batch_size = 64
    batches = caption_batches(cfg, stage, tok, seed=0)
    held_out = batches.batch(10_000)
    before = caption_retrieval_accuracy(dual, held_out)
    opt = torch.optim.AdamW(dual.parameters(), lr=2e-3)
    dual.train()
    for i in range(60):
        loss, n = contrastive_loss_fn(dual, batches.batch(i))
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
    after = caption_retrieval_accuracy(dual, held_out)
    assert after > before + 0.3 and after > 0.6  # colours and brightness are told apart


def test_caption_batches_end_captions_with_eos(setup):
    cfg, tok = setup
    b = caption_batches(cfg, cfg.stages.v0_vision, tok, seed=1).batch(0)
    lengths = b["attention_mask"].sum(1)
    last = b["input_ids"][torch.arange(len(lengths)), lengths - 1]
    assert (last == tok.eos_token_id).all()
    assert b["pixel_values"].shape[1:] == (3, 32, 32)
    assert (b["input_ids"][b["attention_mask"] == 0] == tok.pad_token_id).all()
