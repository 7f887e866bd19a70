"""`longva train align` under torchrun (2 gloo ranks, data parallel) equals the 1-process run."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from longva.data.toy.align_folder import make_toy_dataset
from longva.train.align_stage import load_align_config, run_align_training
from longva.utils.io import read_jsonl

TOY = Path(__file__).resolve().parents[2] / "configs" / "train_align_toy.yaml"
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_data_parallel_ranks_match_one_process(tmp_path):
    toy = make_toy_dataset(tmp_path / "data", n=8)
    sets = [
        f"model.language_model={toy['lm']}",
        f"model.vision_tower={toy['clip']}",
        f"data.path={toy['conversations']}",
        f"data.image_folder={toy['images']}",
        "train.steps=3",
        "data.batch_size=4",
    ]
    single = run_align_training(load_align_config(TOY, sets + [f"train.output_dir={tmp_path / 'single'}"]))

    cmd = [str(TORCHRUN), "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "longva.cli",
           "train", "align", "--config", str(TOY)]
    for item in sets + [f"train.output_dir={tmp_path / 'dp'}"]:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # each rank decodes half of every batch; the update is the one of the whole batch
    dp = [r["loss"] for r in read_jsonl(tmp_path / "dp" / "metrics.jsonl")]
    assert dp == pytest.approx([r["loss"] for r in single], rel=0, abs=1e-5)
    a = load_file(tmp_path / "single" / "final" / "model.safetensors")
    b = load_file(tmp_path / "dp" / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
