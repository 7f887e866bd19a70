"""LM families beyond qwen2/llama, and prefix-LM attention over the visual tokens."""

import pytest
import torch

from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.prefix_lm import prefix_lm_mask, visual_flags
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IMAGE_TOKEN_INDEX
from longva.model.tiny import tiny_longva_config


@pytest.mark.parametrize("family", ["mistral", "gemma", "llama"])
def test_lm_family_forward_and_save_load(tokenizer, tmp_path, family):
    torch.manual_seed(0)
    cfg = tiny_longva_config(len(tokenizer), model_type=family)
    model = LongVAForCausalLM(cfg).eval()
    assert model.language_model.config.model_type == family
    ids = torch.tensor([[5, 6, IMAGE_TOKEN_INDEX, 7, 8]])
    feats = [torch.randn(4, cfg.lm.hf_config["hidden_size"])]
    with torch.no_grad():
        logits = model(input_ids=ids, visual_features=feats).logits
    assert logits.shape == (1, 8, len(tokenizer)) and torch.isfinite(logits).all()
    model.save_pretrained(tmp_path / "m", LongVAProcessor(tokenizer, cfg))
    loaded = LongVAForCausalLM.from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids, visual_features=feats).logits, logits)


def test_prefix_lm_mask_is_causal_except_between_visual_tokens():
    visual = visual_flags([[(2, False), (3, True), (1, False), (2, True)]], 8)
    assert visual.int().tolist() == [[0, 0, 1, 1, 1, 0, 1, 1]]
    allowed = prefix_lm_mask(visual, None, torch.float32)[0, 0] == 0
    expected = torch.ones(8, 8, dtype=torch.bool).tril() | (visual[0, :, None] & visual[0, None, :])
    assert torch.equal(allowed, expected)
    assert allowed[2, 7] and not allowed[5, 6] and not allowed[1, 2]  # visual->later visual; text causal
    padded = prefix_lm_mask(visual, torch.tensor([[1] * 7 + [0]]), torch.float32)[0, 0] == 0
    assert not padded[:, 7].any()  # nobody attends to padding
    tail = prefix_lm_mask(visual, None, torch.float32, start=5)[0, 0] == 0  # queries 5..7 after a cache
    assert torch.equal(tail, expected[5:])


def _hidden(model, ids, feats):
    out = model(input_ids=ids, visual_features=[feats], logits_to_keep=0)
    return out.logits[0]  # (L, V)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("family", ["qwen2", "gemma"])
def test_prefix_lm_visual_tokens_see_later_visual_tokens_text_stays_causal(tokenizer, impl, family):
    torch.manual_seed(0)
    cfg = tiny_longva_config(len(tokenizer), model_type=family)
    cfg.lm.hf_config["attn_implementation"] = impl
    cfg.attention = "prefix_lm"
    model = LongVAForCausalLM(cfg).eval()
    causal_cfg = tiny_longva_config(len(tokenizer), model_type=family)
    causal_cfg.lm.hf_config["attn_implementation"] = impl
    causal = LongVAForCausalLM(causal_cfg).eval()
    causal.load_state_dict(model.state_dict())
    ids = torch.tensor([[5, 6, IMAGE_TOKEN_INDEX, 7, 8, 9]])  # text 0-1, visual 2-5, text 6-8
    feats = torch.randn(4, cfg.lm.hf_config["hidden_size"])
    later_visual = feats.clone()
    later_visual[3] += 1.0  # the last visual token (position 5)
    later_text = ids.clone()
    later_text[0, 5] = 11  # the last text token (position 8)
    with torch.no_grad():
        base = _hidden(model, ids, feats)
        moved = _hidden(model, ids, later_visual)
        text_moved = _hidden(model, later_text, feats)
        causal_moved = _hidden(causal, ids, later_visual) - _hidden(causal, ids, feats)
    assert (moved[2] - base[2]).abs().max() > 1e-4  # the first visual token sees the last one
    assert torch.allclose(moved[:2], base[:2], atol=1e-5)  # text before the visual span: causal
    assert torch.allclose(text_moved[:8], base[:8], atol=1e-5)  # no token sees a later text token
    assert causal_moved[:5].abs().max() < 1e-5  # causal model: the first visual tokens do not see it
