"""`longva reproduce --quick`: report files and table structure, and resume after kill -9."""

import json
import os
import subprocess
import sys
import time

from longva.recipes.config import quick_config

MODELS = {"longva", "short_lm", "short_lm_rope", "anyres"}


def _cmd(out):
    return [sys.executable, "-m", "longva.cli", "reproduce", "--quick", "--out", str(out), "--threads", "1"]


def _kill_after_first_stage(out, env):
    proc = subprocess.Popen(_cmd(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if list((out / "cache").glob("s0_text-*/DONE.json")):
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return list((out / "cache").glob("s0_text-*/DONE.json"))


def test_quick_reproduce_resumes_after_kill_and_reports(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = _kill_after_first_stage(out, env)
    assert done, "the first stage should finish before the kill"
    first_mtime = done[0].stat().st_mtime_ns

    res = subprocess.run(_cmd(out), env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "s0_text: cached" in res.stderr  # resumed: the finished stage is not recomputed
    assert done[0].stat().st_mtime_ns == first_mtime

    for name in ["report.md", "results.json", "vniah_side_by_side.png", "config.yaml"]:
        assert (out / name).stat().st_size > 0
    for model in MODELS:
        assert (out / f"heatmap_{model}.png").stat().st_size > 0

    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == MODELS
    frames = sorted(quick_config().eval.vniah.frames)
    for m in results["models"].values():
        assert 0.0 <= m["average"] <= 1.0
        assert sorted(int(t) for t in m["by_frames"]) == frames
        assert set(m["buckets"]) == {"within_s0_context", "beyond_s0_context", "beyond_4x_s0_context"}
    assert set(results["text_niah"]) == {"s0_text", "s1_long"}
    assert "proxy" in results["video_qa_proxy"]["longva"]["name"]

    table = res.stdout.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("| model | average |"))
    rows = [line.split("|")[1].strip() for line in table[header + 2 : header + 6]]
    assert set(rows) == MODELS
    report = (out / "report.md").read_text()
    assert "## V-NIAH accuracy" in report and "vniah_side_by_side.png" in report

    again = subprocess.run(_cmd(out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "running" not in again.stderr  # everything cached
