"""Interrupted runs resume to the same results; torchrun splits cells across 2 gloo ranks."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from longva.niah.text_niah_command import TextNIAHOptions, run_text_niah
from longva.utils.io import read_jsonl

GRID = ["--lengths", "64:320:64", "--depths", "0:1:0.25", "--samples", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "LONGVA_PROGRESS": "0"}


def _opts(model, out, **kw):
    return TextNIAHOptions(
        model=model, out=out, lengths="64:320:64", depths="0:1:0.25", samples=2, **kw
    )


def _cells(out: Path) -> dict:
    recs = [r for f in sorted(out.glob("cells*.jsonl")) for r in read_jsonl(f)]
    by_key = {(r["needle"], r["tokens"], r["depth"]): r["pred_ids"] for r in recs}
    assert len(by_key) == len(recs), "a cell was evaluated twice"
    return by_key


def _accuracies(out: Path):
    return json.loads((out / "all_accuracies.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(text_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    summary = run_text_niah(_opts(text_model_dir, out))
    assert summary["complete"] and summary["cells"] == 25  # grid points; 50 cells with 2 samples
    return out


def test_stop_after_k_cells_then_resume(text_model_dir, uninterrupted, tmp_path):
    first = run_text_niah(_opts(text_model_dir, tmp_path, max_cells=7))
    assert not first["complete"] and len(_cells(tmp_path)) == 7
    second = run_text_niah(_opts(text_model_dir, tmp_path))
    assert second["skipped_finished"] == 7 and second["complete"]
    assert _accuracies(tmp_path) == _accuracies(uninterrupted)
    assert _cells(tmp_path) == _cells(uninterrupted)


def test_sigkill_mid_grid_then_resume(text_model_dir, uninterrupted, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "longva.cli",
        "niah-text",
        "--model",
        str(text_model_dir),
        "--out",
        str(tmp_path),
        *GRID,
        "--chunk-size",
        "4",
    ]  # tiny chunks: slow enough to be killed mid-grid
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cells = tmp_path / "cells.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if cells.exists() and len(cells.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(read_jsonl(cells)))
    assert 3 <= done < 50, f"the kill should land mid-grid (got {done} cells)"
    summary = run_text_niah(_opts(text_model_dir, tmp_path))
    assert summary["complete"] and summary["skipped_finished"] == done
    assert _accuracies(tmp_path) == _accuracies(uninterrupted)
    assert _cells(tmp_path) == _cells(uninterrupted)


def test_torchrun_two_gloo_ranks_match_one_process(text_model_dir, uninterrupted, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "longva.cli",
        "niah-text",
        "--model",
        str(text_model_dir),
        "--out",
        str(tmp_path),
        *GRID,
    ]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    per_rank = [len(list(read_jsonl(tmp_path / f"cells.rank{r}.jsonl"))) for r in (0, 1)]
    assert sum(per_rank) == 50 and min(per_rank) > 0
    assert _accuracies(tmp_path) == _accuracies(uninterrupted)
    assert _cells(tmp_path) == _cells(uninterrupted)
