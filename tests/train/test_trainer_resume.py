"""Checkpoints: kill-and-resume reproduces the uninterrupted run; bad resumes change nothing."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from longva.cli import main as cli_main
from longva.errors import CheckpointError
from longva.train.text_stage import build_text_trainer, load_text_config, run_text_training
from longva.utils.io import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "configs" / "train_text_toy.yaml"


def _cfg(out, **over):
    sets = {
        "train.output_dir": str(out), "train.steps": 8, "train.checkpoint_every": 3, "train.keep_last": 2,
        "train.grad_accum": 2, "data.batch_size": 4, "data.passkey.seq_length": 32, "train.lr_schedule.kind": "cosine",
        "train.lr_schedule.warmup_steps": 2, "train.optimizer.weight_decay": 0.1, **over,
    }
    return load_text_config(TOY, [f"{k}={v}" for k, v in sets.items()])


def _curve(out):
    """(steps, losses) of metrics.jsonl."""
    records = list(read_jsonl(Path(out) / "metrics.jsonl"))
    return [r["step"] for r in records], [r["loss"] for r in records]


def _same_curve(a, b):
    (steps_a, loss_a), (steps_b, loss_b) = _curve(a), _curve(b)
    return steps_a == steps_b and loss_a == pytest.approx(loss_b, rel=0, abs=1e-6)


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(Path(folder).rglob("*")) if p.is_file()
    }


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    full = run_text_training(_cfg(tmp_path / "full"))
    assert [r["step"] for r in full] == list(range(1, 9))

    killed = build_text_trainer(_cfg(tmp_path / "run")).fit(max_steps_this_run=5)  # "dies" after step 5
    assert [r["loss"] for r in killed] == [r["loss"] for r in full[:5]]
    assert sorted(p.name for p in (tmp_path / "run").glob("step_*")) == ["step_3"]

    resumed = run_text_training(_cfg(tmp_path / "run"), resume=True)
    assert [r["step"] for r in resumed] == [4, 5, 6, 7, 8]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in full[3:]], rel=0, abs=1e-6)
    assert [r["lr"] for r in resumed] == [r["lr"] for r in full[3:]]
    # metrics.jsonl reads as one run (steps 4-5 of the killed run were replaced, not duplicated)
    assert _same_curve(tmp_path / "run", tmp_path / "full")
    a = load_file(tmp_path / "full" / "step_8" / "model.safetensors")
    b = load_file(tmp_path / "run" / "step_8" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # keep-last-2 rotation and the exported transformers folder
    assert sorted(p.name for p in (tmp_path / "run").glob("step_*")) == ["step_6", "step_8"]
    assert (tmp_path / "run" / "final" / "config.json").exists()
    state = json.loads((tmp_path / "run" / "step_8" / "trainer_state.json").read_text())
    assert state["run_config"]["train"]["lr_schedule"]["kind"] == "cosine"


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_corrupt_checkpoint_on_resume_is_one_line_error_and_changes_nothing(tmp_path, damage, capsys):
    out = tmp_path / "run"
    build_text_trainer(_cfg(out, **{"train.steps": 6})).fit(max_steps_this_run=4)
    newest = out / "step_3"
    target = newest / ("manifest.json" if damage == "manifest" else "model.safetensors")
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[:10]
    target.write_bytes(bytes(data))
    before = _snapshot(out)
    with pytest.raises(CheckpointError) as err:
        build_text_trainer(_cfg(out, **{"train.steps": 6})).fit(resume=True)
    assert "\n" not in str(err.value) and "step_3" in str(err.value) and "corrupt" in str(err.value)
    assert _snapshot(out) == before
    # the CLI prints the same single line and exits 2
    code = cli_main(["train", "text", "--config", str(TOY), "--resume", "--set", f"train.output_dir={out}",
                     "--set", "train.steps=6", "--set", "data.batch_size=4", "--set", "data.passkey.seq_length=32"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "corrupt" in lines[0]
    assert _snapshot(out) == before


def test_new_run_refuses_to_overwrite_checkpoints(tmp_path):
    out = tmp_path / "run"
    build_text_trainer(_cfg(out)).fit(max_steps_this_run=3)
    before = _snapshot(out)
    with pytest.raises(CheckpointError, match="--resume"):
        build_text_trainer(_cfg(out)).fit()
    assert _snapshot(out) == before


def test_unknown_schedule_in_config_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TOY.read_text().replace("kind: constant", "kind: warmup_cosine"))
    code = cli_main(["train", "text", "--config", str(bad), "--set", f"train.output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "warmup_cosine" in err[0] and "cosine" in err[0]
    assert not (tmp_path / "out").exists()


def test_sigkilled_cli_run_resumes_to_the_uninterrupted_loss_curve(tmp_path):
    """A real crash: SIGKILL the CLI mid-run (whenever it gets there), then --resume."""
    sets = ["train.steps=30", "train.checkpoint_every=5", "data.batch_size=8", "data.passkey.seq_length=128"]
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "longva.cli",
        "train",
        "text",
        "--config",
        str(TOY),
        "--set",
        f"train.output_dir={out}",
    ]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if len(list(read_jsonl(out / "metrics.jsonl"))) >= 8:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists()

    assert cli_main(cmd[3:] + ["--resume"]) == 0
    reference = tmp_path / "full"
    run_text_training(load_text_config(TOY, [f"train.output_dir={reference}", *sets]))
    assert _same_curve(out, reference)
    assert _curve(out)[0] == list(range(1, 31))
