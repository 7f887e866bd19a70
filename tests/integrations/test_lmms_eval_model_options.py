"""The built-in wrapper's model options change what they say they change."""

from __future__ import annotations

import pytest
import torch

from longva.errors import ConfigError
from longva.integrations.lmms_eval_model import LongVA, resolve_pretrained
from longva.integrations.lmms_eval_visuals import encode_items, visuals_key


def test_pooling_attention_template_and_dtype_options(model_dir):
    plain = LongVA(pretrained=str(model_dir), device="cpu")
    assert plain.model.tokens_per_frame == 4 and plain.model.dtype.is_floating_point
    assert str(plain.model.dtype) == "torch.float32"  # auto on CPU
    assert plain.pipe.processor.template.name == "qwen_1_5"

    changed = LongVA(
        pretrained=str(model_dir),
        device="cpu",
        mm_spatial_pool_stride=1,
        mm_spatial_pool_mode="max",
        attn_implementation="eager",
        conv_template="plain",
        torch_dtype="bfloat16",
    )
    assert changed.model.tokens_per_frame == 16  # 4x4 patches, no 2x2 pooling any more
    assert changed.model.config.pooling.kind == "max"
    assert changed.model.language_model.config._attn_implementation == "eager"
    assert changed.pipe.processor.template.name == "plain"
    assert str(changed.model.dtype) == "torch.bfloat16"


def test_token_strategy_multiple_gives_one_block_per_frame(model_dir, media, pipe):
    video = str(media / "clip.mp4")
    single = encode_items(pipe.model, pipe.processor, [video], 6, "single")
    multiple = encode_items(pipe.model, pipe.processor, [video], 6, "multiple")
    assert len(single) == 1 and len(multiple) == 6
    assert all(b.shape[0] == pipe.model.tokens_per_frame for b in multiple)
    assert single[0].equal(torch.cat(multiple))
    assert visuals_key([video], 6, "single") != visuals_key([video], 8, "single")


def test_pretrained_must_be_a_folder_or_a_fetchable_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="not fetched from the hub"):
        resolve_pretrained("lmms-lab/LongVA-7B")
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_pretrained(str(tmp_path / "a" / "b" / "c"))
