"""What a redirected `longva` run writes: our own lines only (no library bars or warnings), and
progress as a line per interval with rate and ETA."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_redirected_training_prints_only_our_progress_lines_and_an_atomic_final(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LONGVA_PROGRESS_INTERVAL": "0"}
    env.pop("LONGVA_PROGRESS", None)
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # the CLI sets it itself
    config = ROOT / "configs" / "train_text_toy.yaml"
    cmd = [sys.executable, "-m", "longva.cli", "train", "text", "--config", str(config),
           "--set", f"train.output_dir={out}", "--set", "train.steps=4", "--set", "data.batch_size=2",
           "--set", "data.passkey.seq_length=32"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    progress = [line for line in lines if line.startswith("train: ")]
    assert [line.split(" (")[0] for line in progress] == [f"train: {i}/4" for i in range(1, 5)]
    assert all("/s" in line and "loss" in line for line in progress)
    assert lines[-1].startswith("step 4/4 loss") and len(lines) == len(progress) + 1  # nothing else
    assert "%|" not in proc.stderr and "Warning" not in proc.stderr
    assert sorted(p.name for p in (out / "final").iterdir()) == ["config.json", "generation_config.json",
                                                                   "model.safetensors"]
    assert not [p for p in out.iterdir() if p.name.startswith(".final")]  # no temporary folder left
