"""Vision towers beyond CLIP/SigLIP: shapes, grid geometry, fusion, save/load round trips."""

import pytest
import torch

from longva.errors import ConfigError
from longva.model.config import VisionTowerConfig
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.tiny import tiny_longva_config, tiny_vision_config
from longva.model.tower_presets import tower_like
from longva.model.vision_backbones import FusedTower, build_vision_tower

FAMILIES = ["vit", "dinov2", "resnet", "convnext", "fused"]


@pytest.mark.parametrize("family", FAMILIES)
def test_tower_gives_the_configured_grid_and_width(family):
    cfg = tiny_vision_config(family, image_size=48)  # the tiny CLIP's 6x6 grid, width 32
    cfg.validate("vision")
    torch.manual_seed(0)
    tower = build_vision_tower(cfg).eval()
    with torch.no_grad():
        out = tower(torch.randn(5, 3, 48, 48), chunk_size=2)  # chunks of 2, 2, 1
    width = 64 if family == "fused" else 32
    assert (cfg.grid_side, cfg.hidden_size) == (6, width)
    assert out.shape == (5, 36, width)
    torch.manual_seed(1)
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():  # chunking changes nothing
        assert torch.allclose(tower(x, chunk_size=1), tower(x, chunk_size=3), atol=1e-5)


@pytest.mark.parametrize("family", ["resnet", "convnext"])
@pytest.mark.parametrize("size", [32, 45, 64, 96])
def test_conv_grid_formula_matches_the_real_feature_map(family, size):
    cfg = VisionTowerConfig(type=family, name_or_path=None,
                            hf_config=dict(hidden_sizes=[8, 16, 24], depths=[1, 1, 1], image_size=size,
                                           **({"num_stages": 3} if family == "convnext" else {})))
    tower = build_vision_tower(cfg).eval()
    with torch.no_grad():
        fmap = tower.model(pixel_values=torch.randn(1, 3, size, size)).last_hidden_state
    assert fmap.shape[-2:] == (cfg.grid_side, cfg.grid_side)
    assert fmap.shape[1] == cfg.hidden_size == 24


def test_fused_parts_are_resampled_to_the_smallest_grid_and_concatenated():
    fine = tiny_vision_config("dinov2", image_size=48, patch_size=4)  # 12x12
    coarse = tiny_vision_config("siglip", image_size=48, patch_size=8, hidden_size=16)  # 6x6
    cfg = VisionTowerConfig(type="fused", hf_config={}, name_or_path=None, parts=[fine, coarse])
    cfg.validate("vision")
    torch.manual_seed(0)
    tower = FusedTower(cfg).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        out = tower(x)
        fine_feats = tower.parts[0](x)  # (2, 144, 32)
    assert out.shape == (2, 36, 48) and cfg.grid_side == 6
    pooled = fine_feats.reshape(2, 6, 2, 6, 2, 32).mean((2, 4)).reshape(2, 36, 32)  # 2x2 blocks
    assert torch.allclose(out[..., :32], pooled, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(out[..., 32:], tower.parts[1](x), atol=1e-5)


def test_fused_towers_must_read_one_image_size():
    parts = [tiny_vision_config("dinov2", image_size=48), tiny_vision_config("siglip", image_size=32)]
    with pytest.raises(ConfigError, match=r"parts: the fused towers read different image sizes \[32, 48\]"):
        VisionTowerConfig(type="fused", hf_config={}, parts=parts).validate("model.vision")
    with pytest.raises(ConfigError, match="needs >= 2 towers"):
        VisionTowerConfig(type="fused", hf_config={}, parts=parts[:1]).validate("model.vision")


def test_a_conv_backbone_that_cannot_reach_the_grid_is_refused():
    base = tiny_vision_config("clip", image_size=336, patch_size=14)  # 24x24: 336 / 24 = 14, no power of 2
    with pytest.raises(ConfigError, match="a resnet backbone cannot turn 336 px frames into the base's 24x24 grid"):
        tower_like("resnet", base)
    assert tower_like("convnext", base).grid_side == 24  # ConvNeXt's stem stride is free (patch 14)


@pytest.mark.parametrize("family", ["resnet", "fused", "vit"])
def test_save_load_round_trip(tokenizer, tmp_path, family):
    torch.manual_seed(0)
    cfg = tiny_longva_config(len(tokenizer), tower=family, image_size=48)
    model = LongVAForCausalLM(cfg).eval()
    model.save_pretrained(tmp_path / "m", LongVAProcessor(tokenizer, cfg))
    loaded = LongVAForCausalLM.from_pretrained(tmp_path / "m").eval()
    assert loaded.config.vision.type == family and loaded.config == cfg
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(model.encode_frames(x), loaded.encode_frames(x))
        assert model.encode_frames(x).shape == (3, 9, cfg.lm.hf_config["hidden_size"])


@pytest.mark.parametrize("family", FAMILIES)
def test_unused_modules_are_exactly_those_without_gradient(family):
    torch.manual_seed(0)
    tower = build_vision_tower(tiny_vision_config(family, image_size=48, num_layers=3))
    tower(torch.randn(2, 3, 48, 48)).square().sum().backward()
    unused = {id(p) for m in tower.unused_modules() for p in m.parameters()}
    for name, p in tower.named_parameters():
        assert (p.grad is None or not p.grad.any()) == (id(p) in unused), name
