"""Small pieces: parameter groups, zigzag layout, data-parallel slicing, config checks."""

from pathlib import Path

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from longva.errors import ConfigError
from longva.train.distributed.context_parallel import (
    shard_batch,
    shard_for_context_parallel,
    unzigzag,
    zigzag_order,
)
from longva.train.distributed.data_slice import DataParallelSlice
from longva.train.distributed.fsdp import decoder_layers
from longva.train.metrics_log import check_tensorboard
from longva.train.optim import OptimizerConfig, build_optimizer, make_param_groups
from longva.train.text_stage import TextTrainConfig, build_text_trainer, load_text_config
from longva.utils.dataclass_config import from_dict

ROOT = Path(__file__).resolve().parents[2]


def _lm():
    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return Qwen2ForCausalLM(cfg)


def test_param_groups_no_decay_on_norms_and_biases_and_prefix_lrs():
    lm = _lm()
    groups = make_param_groups(lm.named_parameters(), lr=1e-5, weight_decay=0.1, lr_by_prefix={"model.layers.1.": 1e-3})
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"default", "default/no_decay", "model.layers.1.", "model.layers.1./no_decay"}
    names = {id(p): n for n, p in lm.named_parameters()}
    for g in groups:
        for p in g["params"]:
            is_vector = p.ndim < 2
            assert (g["weight_decay"] == 0.0) == is_vector, names[id(p)]
            assert g["lr"] == (1e-3 if names[id(p)].startswith("model.layers.1.") else 1e-5)
    assert sum(len(g["params"]) for g in groups) == len(list(lm.parameters()))
    opt = build_optimizer(groups, OptimizerConfig())
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-8
    with pytest.raises(ConfigError, match="lr_by_prefix"):
        make_param_groups(lm.named_parameters(), 1e-5, 0.1, {"vision_tower.": 1e-3})


def test_frozen_parameters_are_left_out():
    lm = _lm()
    lm.model.embed_tokens.weight.requires_grad_(False)
    groups = make_param_groups(lm.named_parameters(), 1e-5, 0.1)
    assert all(p is not lm.model.embed_tokens.weight for g in groups for p in g["params"])


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_zigzag_shards_hold_mirrored_chunks_and_reassemble(world):
    x = torch.arange(2 * world * 3).view(1, -1)  # chunks of 3 positions
    shards = [shard_for_context_parallel(x, 1, r, world) for r in range(world)]
    for r, shard in enumerate(shards):
        chunks = shard.view(2, 3)
        assert chunks[0, 0] == 3 * r and chunks[1, 0] == 3 * (2 * world - 1 - r)
    assert torch.equal(unzigzag(shards, 1), x)
    assert sorted(zigzag_order(world)) == list(range(2 * world))


def test_shard_batch_adds_global_positions():
    batch = {"input_ids": torch.arange(8).view(1, 8) + 100, "labels": torch.arange(8).view(1, 8) + 200}
    local = shard_batch(batch, rank=1, world=2)
    assert local["position_ids"].tolist() == [[2, 3, 4, 5]]
    assert local["input_ids"].tolist() == [[102, 103, 104, 105]] and local["labels"].tolist() == [[202, 203, 204, 205]]
    with pytest.raises(ValueError, match="multiple of 2"):
        shard_for_context_parallel(torch.zeros(1, 6), 1, 0, 2)


def test_data_parallel_slice_rows_and_state():
    class It:
        index = 0

        def __next__(self):
            self.index += 1
            return {"input_ids": torch.arange(4).view(4, 1) + 10 * self.index, "meta": "x"}

        def state_dict(self):
            return {"index": self.index}

        def load_state_dict(self, s):
            self.index = s["index"]

    rank1 = DataParallelSlice(It(), dp_rank=1, dp_size=2)
    assert next(rank1)["input_ids"].flatten().tolist() == [12, 13]
    assert rank1.state_dict() == {"index": 1}
    with pytest.raises(ConfigError, match="batch_size"):
        next(DataParallelSlice(It(), dp_rank=0, dp_size=3))


def test_fsdp_units_are_the_decoder_layers():
    lm = _lm()
    assert [type(m).__name__ for m in decoder_layers(lm)] == ["Qwen2DecoderLayer"] * 2


def test_config_checks(tmp_path):
    with pytest.raises(ConfigError, match="multiple of 2 x context_parallel"):
        cfg = from_dict(
            TextTrainConfig,
            {
                "model": {"hf_config": {"model_type": "qwen2"}},
                "parallel": {"context_parallel": 4},
                "data": {"text": {"seq_length": 100}},
            },
        )
        cfg.validate()
    with pytest.raises(ConfigError, match="exactly one of pretrained"):
        from_dict(TextTrainConfig, {"model": {"pretrained": "x", "hf_config": {"model_type": "qwen2"}}})
    with pytest.raises(ConfigError, match="key.path=value"):
        load_text_config(ROOT / "configs/train_text_toy.yaml", ["train.steps"])
    big = load_text_config(ROOT / "configs/train_text_qwen2_7b_224k.yaml")
    assert (big.model.rope_theta, big.data.text.seq_length, big.train.optimizer.lr) == (1e9, 224000, 1e-5)
    assert (big.train.grad_accum, big.train.steps, big.train.checkpoint_every) == (4, 1000, 200)
    assert (big.parallel.context_parallel, big.parallel.fsdp, big.train.precision) == (8, True, "bf16")


def test_tensorboard_flag_needs_the_package():
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="tensorboard"):
            check_tensorboard(True)
    else:
        check_tensorboard(True)
    check_tensorboard(False)


def _losses(tmp_path, name, *sets):
    base = [f"train.output_dir={tmp_path / name}", "train.steps=3", "data.batch_size=4", "data.passkey.seq_length=64"]
    trainer = build_text_trainer(load_text_config(ROOT / "configs/train_text_toy.yaml", base + list(sets)))
    return [r["loss"] for r in trainer.fit(max_steps_this_run=3)]


def test_activation_checkpointing_is_exact_and_bf16_is_close(tmp_path):
    plain = _losses(tmp_path, "plain")
    ckpt = _losses(tmp_path, "ckpt", "model.activation_checkpointing=true")
    bf16 = _losses(tmp_path, "bf16", "train.precision=bf16")
    assert ckpt == pytest.approx(plain, rel=0, abs=1e-6)
    assert bf16[0] == pytest.approx(plain[0], rel=0.02) and bf16 != plain
