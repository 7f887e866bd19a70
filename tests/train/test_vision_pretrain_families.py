"""V0 contrastive pretraining of tower families beyond CLIP/SigLIP: a step trains the tower and
its weights load into the LongVA model's tower, giving the same features."""

import pytest
import torch

from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config
from longva.train.vision_pretrain import (
    TextTowerConfig,
    build_dual_encoder,
    contrastive_loss_fn,
    load_tower_weights,
    tower_state_dict,
)


@pytest.mark.parametrize("family", ["vit", "resnet", "fused", "clip"])
def test_dual_encoder_trains_the_tower_and_hands_it_over(family):
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok), tower=family, image_size=48)
    torch.manual_seed(0)
    dual = build_dual_encoder(cfg.vision, TextTowerConfig(), len(tok), tok.eos_token_id, tok.pad_token_id)
    words = tok.encode("red", add_special_tokens=False)[:1] + tok.encode("blue", add_special_tokens=False)[:1]
    ids = torch.tensor([[words[0], tok.eos_token_id], [words[1], tok.eos_token_id]])  # two one-word captions
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": torch.randn(2, 3, 48, 48)}
    loss, n = contrastive_loss_fn(dual, batch)
    loss.backward()
    grads = [p.grad for p in dual.vision_model.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and int(n) == 2 and any(g is not None and g.abs().sum() > 0 for g in grads)
    model = LongVAForCausalLM(cfg).eval()
    load_tower_weights(model.vision_tower, tower_state_dict(dual))
    dual.eval()
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        mine = model.vision_tower(x)
        if family != "clip":  # other families: the dual encoder's vision side IS the tower
            assert torch.allclose(mine, dual.vision_model.tower(x), atol=1e-6)
        else:  # CLIP keys load into VisionTower.model: same weights
            assert all(torch.equal(a, b) for a, b in zip(model.vision_tower.model.state_dict().values(),
                                                         dual.vision_model.state_dict().values()))
