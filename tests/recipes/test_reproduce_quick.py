"""`longva reproduce --quick`: report structure over seeds, resume after kill -9, determinism.

Structure only: the quick recipe is a smoke run, accuracy is not expected.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from longva.recipes.config import quick_config

MODELS = {"longva", "short_lm", "short_lm_rope", "anyres"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cmd(out, *seeds):
    return [sys.executable, "-m", "longva.cli", "reproduce", "--quick", "--out", str(out), "--threads", "1", *seeds]


def _kill_after_first_text_stage(out):
    proc = subprocess.Popen(_cmd(out, "--seeds", "0,1"), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if list((out / "cache").glob("s0_text-*/DONE.json")):
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return list((out / "cache").glob("s0_text-*/DONE.json"))


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """Two seeds, killed after the first text stage, then resumed to the end."""
    out = tmp_path_factory.mktemp("quick") / "run"
    done = _kill_after_first_text_stage(out)
    assert done, "the first text stage should finish before the kill"
    first_mtime = done[0].stat().st_mtime_ns
    res = subprocess.run(_cmd(out, "--seeds", "0,1"), env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "s0_text: cached" in res.stderr  # resumed: the finished stage is not recomputed
    assert done[0].stat().st_mtime_ns == first_mtime
    return out, res


def test_quick_reproduce_reports_every_seed_and_the_mean(resumed_run):
    out, res = resumed_run
    for name in ["report.md", "results.json", "vniah_side_by_side.png", "config.yaml"]:
        assert (out / name).stat().st_size > 0
    for model in MODELS:
        assert (out / f"heatmap_{model}.png").stat().st_size > 0
        for seed in (0, 1):
            assert (out / f"seed_{seed}" / f"heatmap_{model}.png").stat().st_size > 0

    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0, 1] and set(results["models"]) == MODELS
    frames = sorted(quick_config().eval.vniah.frames)
    for m in results["models"].values():
        assert set(m["average"]["per_seed"]) == {"0", "1"}  # JSON keys
        assert 0.0 <= m["average"]["mean"] <= 1.0 and len(m["average"]["ci95"]) == 2
        assert sorted(int(t) for t in m["by_frames"]) == frames
        assert set(m["buckets"]) == {"within_s0_context", "beyond_s0_context", "beyond_4x_s0_context"}
    assert set(results["rope_sweep"]) == {"1e4", "1e5"}
    assert set(results["models"]["short_lm_rope"]["rope_theta"].values()) <= {1e4, 1e5}
    assert set(results["text_niah"]) == {"s0_text", "s1_long"}
    assert {"cpu", "torch", "transformers"} <= set(results["machine"])
    checks = results["acceptance"]
    assert {"longva_average", "longva_mean", "short_lm_beyond", "rope_gap_beyond_4x"} <= set(checks)
    assert all(set(c["per_seed"]) == {"0", "1"} for c in checks.values())

    seed0 = json.loads((out / "seed_0" / "results.json").read_text())
    assert seed0["config"]["seed"] == 0 and set(seed0["models"]) == MODELS
    assert set(seed0["rope"]["sweep"]) == {"1e4", "1e5"}
    assert any(k.startswith("v0_vision") for k in seed0["stage_rates"])
    assert all(v["tokens_per_s"] for k, v in seed0["stage_rates"].items() if k.startswith(("s0_text", "s2_align")))

    lines = res.stdout.splitlines()
    assert "smoke run" in res.stdout  # --quick says that its checks are not meaningful
    acceptance = lines.index("Acceptance:")
    assert lines[acceptance + 1].startswith("| check | seed 0 | seed 1 | mean ± 95% CI | verdict |")
    assert len(lines) - acceptance - 3 == len(checks)  # the acceptance table ends the output
    report = (out / "report.md").read_text()
    assert "## V-NIAH, mean ± 95% CI over 2 seed(s)" in report and "vniah_side_by_side.png" in report

    again = subprocess.run(_cmd(out, "--seeds", "0,1"), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "running" not in again.stderr  # everything cached


def test_same_seed_same_machine_gives_identical_numbers(resumed_run, tmp_path):
    """A fresh uninterrupted run of seed 0 reproduces the killed-and-resumed run bit for bit."""
    out, _ = resumed_run
    fresh = tmp_path / "fresh"
    res = subprocess.run(_cmd(fresh, "--seed", "0"), env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    a = json.loads((out / "seed_0" / "results.json").read_text())
    b = json.loads((fresh / "seed_0" / "results.json").read_text())
    assert a["stages"] == b["stages"]  # same content-addressed stage keys
    for name in MODELS:
        assert a["models"][name] == b["models"][name]
    assert a["text_niah"] == b["text_niah"] and a["rope"] == b["rope"]
    for stage in a["stages"].values():  # every per-cell prediction, not just the averages
        cells_a = sorted((out / "cache" / stage).glob("cells*.jsonl"))
        for path in cells_a:
            rows_a = [json.loads(x) for x in path.read_text().splitlines()]
            rows_b = [json.loads(x) for x in (fresh / "cache" / stage / path.name).read_text().splitlines()]
            assert _cell_keys(rows_a) == _cell_keys(rows_b)
    losses = lambda d: [json.loads(x)["loss"] for x in (d / "train" / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    for stage in a["stages"].values():
        if stage.startswith("s2_align"):
            assert losses(out / "cache" / stage) == losses(fresh / "cache" / stage)


def _cell_keys(rows: list[dict]) -> list[tuple]:
    """Each cell's (needle, length, depth, predicted ids), sorted: what a rerun must reproduce."""
    return sorted((r["needle"], r.get("frames", r.get("tokens")), r["depth"], r["pred_ids"]) for r in rows)
