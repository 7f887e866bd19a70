"""Changing the RoPE base: weights untouched, rotation frequencies and long-range outputs change."""

import types

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from longva.errors import ConfigError
from longva.model.rope import get_rope_theta, set_rope_theta, with_rope_theta


def _lm(theta=1e4, tied=True):
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=tied, rope_parameters={"rope_type": "default", "rope_theta": theta},
    )
    return Qwen2ForCausalLM(cfg).eval()


def _expected_inv_freq(theta, head_dim=16):
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))


def test_editing_the_config_alone_changes_nothing():
    lm = _lm()
    before = lm.model.rotary_emb.inv_freq.clone()
    lm.config.rope_parameters["rope_theta"] = 1e6
    assert torch.equal(lm.model.rotary_emb.inv_freq, before)  # why set_rope_theta rebuilds


def test_set_rope_theta_in_place_keeps_weights_changes_frequencies():
    lm = _lm()
    weights = {k: v.clone() for k, v in lm.state_dict().items()}
    ids = torch.randint(0, 128, (1, 512), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = lm(ids).logits
    assert set_rope_theta(lm, 1e6) is lm
    assert get_rope_theta(lm.config) == 1e6
    assert lm.model.rotary_emb.inv_freq == pytest.approx(_expected_inv_freq(1e6))
    assert lm.model.rotary_emb.inv_freq[-1].item() == pytest.approx(5.62e-6, rel=1e-2)
    after_sd = lm.state_dict()
    assert after_sd.keys() == weights.keys() and all(torch.equal(after_sd[k], v) for k, v in weights.items())
    with torch.no_grad():
        after = lm(ids).logits
    # position 0 only sees itself, where every rotation is the identity: unchanged
    assert torch.allclose(after[0, 0], before[0, 0], atol=1e-6)
    # far positions see keys hundreds of tokens away: the slower rotation changes the output
    assert (after[0, -1] - before[0, -1]).abs().max() > 1e-3


def test_with_rope_theta_returns_a_new_model_and_leaves_the_old_one():
    lm = _lm(tied=True)
    new = with_rope_theta(lm, 1e9)
    assert get_rope_theta(lm.config) == 1e4 and get_rope_theta(new.config) == 1e9
    assert lm.model.rotary_emb.inv_freq == pytest.approx(_expected_inv_freq(1e4))
    assert new.model.rotary_emb.inv_freq == pytest.approx(_expected_inv_freq(1e9))
    assert new.model.rotary_emb.original_inv_freq == pytest.approx(_expected_inv_freq(1e9))
    old_sd, new_sd = lm.state_dict(), new.state_dict()
    assert all(torch.equal(old_sd[k], new_sd[k]) for k in old_sd)
    assert new.lm_head.weight is new.model.embed_tokens.weight  # still tied
    with torch.no_grad():
        new.model.norm.weight.add_(1.0)
    assert not torch.equal(new.model.norm.weight, lm.model.norm.weight)  # copies, not shared
    ids = torch.randint(0, 128, (1, 300))
    with torch.no_grad():
        set_rope_theta(lm, 1e9)
        lm.model.norm.weight.add_(1.0)
        assert torch.allclose(lm(ids).logits, new(ids).logits, atol=1e-5)


def test_bad_theta_and_non_rope_models_are_config_errors():
    with pytest.raises(ConfigError, match="rope_theta"):
        set_rope_theta(_lm(), 0)
    not_rope = types.SimpleNamespace(config=types.SimpleNamespace(rope_parameters=None))
    with pytest.raises(ConfigError, match="rope_parameters"):
        set_rope_theta(not_rope, 1e6)


@pytest.mark.parametrize("family", ["gemma", "mistral"])
def test_with_rope_theta_on_other_families_matches_setting_it_in_place(family):
    """Gemma keeps a non-persistent `embed_scale`: copied, not left on the meta device."""
    from transformers import AutoModelForCausalLM

    from longva.model.config import LongVAConfig
    from longva.model.modeling_longva import build_lm_config
    from longva.model.tiny import tiny_lm_config

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(build_lm_config(LongVAConfig(lm=tiny_lm_config(128, model_type=family))))
    new = with_rope_theta(lm.eval(), 1e6)
    ids = torch.randint(0, 128, (1, 200), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        set_rope_theta(lm, 1e6)
        assert torch.allclose(lm(ids).logits, new(ids).logits, atol=1e-5)
