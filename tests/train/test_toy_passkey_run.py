"""The toy text run (configs/train_text_toy.yaml) learns pass-key retrieval at its length."""

from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from longva.data.toy.passkey import (
    PasskeyBatches,
    PasskeyConfig,
    PasskeyGenerator,
    passkey_accuracy,
)
from longva.train.text_stage import load_text_config, run_text_training

TOY = Path(__file__).resolve().parents[2] / "configs" / "train_text_toy.yaml"


def test_passkey_example_layout():
    gen = PasskeyGenerator()
    ex = gen.example(np.random.default_rng(0), 40, n_digits=2, depth=0.0)
    assert ex["input_ids"].shape == ex["labels"].shape == (40,)
    answer = [i for i in ex["labels"].tolist() if i != -100]
    assert len(answer) == 2 and answer == [gen.digits[d][0] for d in ex["key"]]
    words = gen.tok.tokenizer.decode(ex["input_ids"].tolist()).split()
    assert words[:4] == ["the", "pass", "key", "is"]  # depth 0: the key comes first
    assert words[-6:] == ["?", "the", "pass", "key", "is", str(ex["key"][0])]


def test_toy_run_learns_passkey_retrieval(tmp_path):
    cfg = load_text_config(TOY, [f"train.output_dir={tmp_path}"])
    held_out = PasskeyBatches(PasskeyConfig(seq_length=cfg.data.passkey.seq_length, seed=12345), batch_size=64).batch(0)
    history = run_text_training(cfg)
    assert history[-1]["step"] == cfg.train.steps
    assert history[-1]["loss"] < 0.1 < history[0]["loss"]
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "final").eval()
    assert lm.config.rope_parameters["rope_theta"] == 1e6
    torch.manual_seed(0)
    untrained = AutoModelForCausalLM.from_config(lm.config).eval()
    assert passkey_accuracy(untrained, held_out) < 0.5  # chance is 1/10
    assert passkey_accuracy(lm, held_out) >= 0.9
