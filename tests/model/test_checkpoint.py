"""Checkpoints: our layout, sharding, and the original LongVA (llava_qwen) layout."""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from longva.errors import CheckpointError, LongVAError
from longva.model.checkpoint import load_config
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.tiny import tiny_longva_config

VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
)


def _inputs(proc):
    video = proc.preprocess_video([Image.new("RGB", (30, 30), (i * 40, 90, 10)) for i in range(3)], mode="pad")
    return proc.encode_prompt(proc.build_messages("What colour?", 1)), [video]


def _logits(model, proc):
    ids, visuals = _inputs(proc)
    with torch.no_grad():
        return model(input_ids=ids, visuals=visuals).logits


def write_longva_checkpoint(directory, tokenizer) -> LongVAForCausalLM:
    """A tiny checkpoint in exactly the original layout: llava_qwen config + original key names."""
    torch.manual_seed(1)
    cfg = tiny_longva_config(len(tokenizer))
    cfg.lm.hf_config["tie_word_embeddings"] = False
    model = LongVAForCausalLM(cfg).eval()
    tower_dir = directory / "clip-tiny"
    tower_dir.mkdir(parents=True)
    (tower_dir / "config.json").write_text(json.dumps({"model_type": "clip_vision_model", **VISION}))
    lm = cfg.lm.hf_config
    config = {
        "architectures": ["LlavaQwenForCausalLM"],
        "model_type": "llava_qwen",
        **{
            k: lm[k]
            for k in (
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "tie_word_embeddings",
            )
        },
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 32768,
        "mm_vision_tower": "clip-tiny",
        "mm_hidden_size": 32,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "mm_patch_merge_type": "unires",
        "image_aspect_ratio": "anyres",
        "mm_spatial_pool_stride": 2,
        "mm_spatial_pool_mode": "average",
        "image_grid_pinpoints": [
            [32 * a, 32 * b] for a in range(1, 9) for b in range(1, 9 // a + 1) if a * b <= 8 and (a, b) != (1, 1)
        ],
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "tokenizer_model_max_length": 32768,
        "rope_scaling": None,
        "torch_dtype": "bfloat16",
    }
    (directory / "config.json").write_text(json.dumps(config))
    state = {}
    for k, v in model.language_model.state_dict().items():
        state[k] = v  # model.embed_tokens.*, model.layers.*, model.norm.*, lm_head.weight
    for k, v in model.vision_tower.model.state_dict().items():
        state[f"model.vision_tower.vision_tower.vision_model.{k}"] = v
    for k, v in model.projector.state_dict().items():
        state[f"model.mm_projector.{k}"] = v
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    LongVAProcessor(tokenizer, cfg).save_pretrained(directory)
    return model


def test_longva_layout_loads_saves_and_reloads_with_identical_logits(tmp_path, tokenizer):
    reference = write_longva_checkpoint(tmp_path / "longva", tokenizer)
    cfg = load_config(tmp_path / "longva")
    assert cfg.encoding.scheme == "unires" and cfg.lm.rope_theta == 1e4 and cfg.pooling.kernel == 2
    assert (1, 2) in cfg.encoding.grid_pinpoints and len(cfg.encoding.grid_pinpoints) == 19
    loaded = LongVAForCausalLM.from_pretrained(tmp_path / "longva")
    proc = LongVAProcessor.from_pretrained(tmp_path / "longva")
    expected = _logits(reference, proc)
    assert torch.equal(_logits(loaded, proc), expected)
    loaded.save_pretrained(tmp_path / "ours", proc)
    again = LongVAForCausalLM.from_pretrained(tmp_path / "ours")
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["model_type"] == "longva"
    assert torch.equal(_logits(again, LongVAProcessor.from_pretrained(tmp_path / "ours")), expected)


def test_sharded_save_writes_an_index_and_reloads(tmp_path, tokenizer):
    cfg = tiny_longva_config(len(tokenizer))
    model = LongVAForCausalLM(cfg).eval()
    proc = LongVAProcessor(tokenizer, cfg)
    model.save_pretrained(tmp_path, proc, max_shard_bytes=20_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert torch.equal(_logits(LongVAForCausalLM.from_pretrained(tmp_path), proc), _logits(model, proc))


def test_corrupt_safetensors_is_a_one_line_error(tmp_path, tokenizer):
    cfg = tiny_longva_config(len(tokenizer))
    LongVAForCausalLM(cfg).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError) as e:
        LongVAForCausalLM.from_pretrained(tmp_path)
    assert "model.safetensors" in str(e.value) and "not a valid safetensors" in str(e.value)
    assert "\n" not in str(e.value)


def test_pickle_bin_only_with_weights_only(tmp_path, tokenizer):
    cfg = tiny_longva_config(len(tokenizer))
    model = LongVAForCausalLM(cfg).eval()
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(dict(model.state_dict()), tmp_path / "pytorch_model.bin")
    assert LongVAForCausalLM.from_pretrained(tmp_path) is not None  # plain tensors: allowed

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        LongVAForCausalLM.from_pretrained(tmp_path)


def test_unknown_projector_in_config_is_named(tmp_path, tokenizer):
    cfg = tiny_longva_config(len(tokenizer))
    LongVAForCausalLM(cfg).save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["projector"]["type"] = "qformer"
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(LongVAError) as e:
        LongVAForCausalLM.from_pretrained(tmp_path)
    assert "projector.type: unknown projector 'qformer'" in str(e.value)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        LongVAForCausalLM.from_pretrained(tmp_path / "nope")


def test_build_model_allocates_parameters_on_the_target_device_in_the_dtype(tokenizer):
    """Built where it will live: nothing allocated or initialised on the CPU first (on a GPU an
    8B model would otherwise spend minutes there); `meta` shows it, as a GPU would."""
    from longva.model.modeling_longva import build_model

    model = build_model(tiny_longva_config(len(tokenizer)), torch.bfloat16, "meta")
    params = dict(model.named_parameters())
    assert params and all(p.device.type == "meta" for p in params.values())
    assert all(p.dtype == torch.bfloat16 for p in params.values())
    assert torch.get_default_dtype() == torch.float32  # the dtype switch is undone
