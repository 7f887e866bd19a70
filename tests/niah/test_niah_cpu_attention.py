"""Mask-free lower-right causal attention == SDPA with the explicit (Q, K) causal mask."""

import pytest
import torch
import torch.nn.functional as F

from longva.niah.cpu_attention import lower_right_causal, lower_right_causal_attention, supported


@pytest.mark.parametrize("q_len, k_len, groups", [(5, 5, 1), (3, 11, 2), (7, 40, 3), (1, 9, 2)])
def test_matches_masked_sdpa(q_len, k_len, groups):
    torch.manual_seed(q_len * k_len)
    hkv, d = 2, 8
    q = torch.randn(1, hkv * groups, q_len, d)
    k, v = torch.randn(1, hkv, k_len, d), torch.randn(1, hkv, k_len, d)
    out, _ = lower_right_causal_attention(None, q, k, v, scaling=d**-0.5)  # (B, Q, H, d)
    mask = torch.ones(q_len, k_len, dtype=torch.bool).tril(
        k_len - q_len
    )  # query i sees keys <= past + i
    ref = F.scaled_dot_product_attention(
        q, k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1), attn_mask=mask
    ).transpose(1, 2)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-5)


def test_switch_is_scoped_and_refuses_sliding_windows():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    lm = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    assert supported(lm)
    with lower_right_causal(lm) as on:
        assert on and lm.config._attn_implementation != "sdpa"
    assert lm.config._attn_implementation == "sdpa"
    lm.config.layer_types = ["sliding_attention"]
    with lower_right_causal(lm) as on:
        assert not on


@pytest.mark.parametrize("q_len, k_len, groups", [(5, 5, 1), (3, 11, 2), (7, 40, 7), (1, 9, 2)])
def test_cuda_formulation_matches_masked_sdpa(q_len, k_len, groups):
    """The CUDA path (one SDPA call with PyTorch's lower-right causal bias, KV heads unrepeated)
    computes the same attention; on CPU PyTorch materialises that bias, on CUDA the flash kernel
    applies it without a mask."""
    from longva.niah.cpu_attention import sdpa_lower_right

    torch.manual_seed(q_len + k_len)
    hkv, d = 2, 8
    q = torch.randn(1, hkv * groups, q_len, d)
    k, v = torch.randn(1, hkv, k_len, d), torch.randn(1, hkv, k_len, d)
    out = sdpa_lower_right(q, k, v, scale=d**-0.5)  # (B, H, Q, d)
    mask = torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)
    ref = F.scaled_dot_product_attention(
        q, k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1), attn_mask=mask
    )
    assert torch.allclose(out, ref, atol=1e-5)
