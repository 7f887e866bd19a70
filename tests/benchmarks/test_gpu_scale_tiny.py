"""benchmarks/gpu_scale.py at tiny shapes on CPU: the GPU script's code path, so it cannot rot.

The script runs as on the GPU machine, in a subprocess with PyAV made unimportable (that
machine has none). One run in fp32 checks the numbers against each other (our evaluator vs the
original-style full forward, KV reuse, the OOM probe through a simulated OOM); one in bf16
checks the dtype handling of every section, as a GPU run would exercise it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_scale.py"
SECTIONS = ("build", "vision", "agreement", "cell", "original", "chat", "attention", "cell_flash")
WITHOUT_PYAV = """
import runpy, sys
class NoPyAV:
    def find_spec(self, name, path=None, target=None):
        if name == "av" or name.startswith("av."):
            raise ImportError("PyAV is not installed on the GPU machine")
sys.meta_path.insert(0, NoPyAV())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
TPF = 4  # tiny CLIP: 32 px / patch 8 = 4x4, pooled 2x2
OOM_ABOVE = 100  # tokens: about 40 text tokens + 4 per frame, so 4 and 8 frames fit, 16 do not


def run_tiny(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "gpu_scale.json"
    cmd = [sys.executable, "-c", WITHOUT_PYAV, str(SCRIPT), "--tiny", "--device", "cpu"]
    done = subprocess.run(
        [*cmd, "--out", str(out), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == last  # --out holds the same final object
    return last


@pytest.fixture(scope="module")
def fp32(tmp_path_factory) -> dict:
    return run_tiny(tmp_path_factory.mktemp("gpu_scale"), "--simulate-oom-above", str(OOM_ABOVE))


def test_every_section_ran_and_the_model_has_the_configured_shapes(fp32):
    sections = fp32["sections"]
    assert fp32["complete"] and tuple(sections) == SECTIONS
    assert fp32["environment"]["dtype"] == "float32" and fp32["environment"]["device"] == "cpu"
    for name in SECTIONS[:-1]:
        assert sections[name]["status"] == "ok", (name, sections[name])
    flash = sections["cell_flash"]
    if fp32["environment"]["flash_attn_installed"]:
        assert flash["status"] in ("ok", "error", "oom")
    else:
        assert flash == {**flash, "status": "skipped", "reason": "flash_attn is not installed"}
    build = sections["build"]
    assert build["weights_bytes"] == 4 * build["params"]
    assert build["params"] > build["lm_params"] > 0 and build["vision_params"] > 0
    assert build["tokens_per_frame"] == TPF
    assert build["kv_bytes_per_token"] == 2 * 2 * 2 * 16 * 4  # K+V, layers, KV heads, dim, fp32
    vision = sections["vision"]
    assert vision["frames"] == 25 and vision["frames_per_s"] > 0  # 24 haystack + 1 needle
    assert vision["embeddings_bytes"] == 25 * TPF * 64 * 4


def test_our_evaluator_agrees_with_the_full_forward(fp32):
    check = fp32["sections"]["agreement"]
    assert check["cells"] == 2 and check["tokens"] > 2 * check["chunk_size"]  # several chunks
    assert check["pred_agreement"] == 1.0 and check["masked_pred_agreement"] == 1.0
    assert check["max_logit_gap"] < 1e-4 * max(1.0, check["logit_scale"])
    assert check["mask_free_ok"] is True and check["mask_free_path"] == "mask_free_lower_right"
    assert check["reused_tokens_second_cell"] > 0
    at_max = fp32["sections"]["original"]["ours_at_max"]
    assert at_max["same_pred"] is True and at_max["max_logit_gap"] < 1e-4


def test_the_cell_is_scored_and_the_second_depth_reuses_the_shared_prefix(fp32):
    cell, build = fp32["sections"]["cell"], fp32["sections"]["build"]
    assert cell["frames"] == 24 and [c["depth"] for c in cell["cells"]] == [0.9, 1.0]
    first, second = cell["cells"]
    assert cell["tokens"] == first["tokens"] == second["tokens"] > 24 * TPF
    assert first["reused_tokens"] == 0 and first["new_tokens"] == first["tokens"] - 1
    # depth 0.9 inserts the needle after frame 21: depth 1.0 shares the prompt and 21 frames
    assert second["reused_tokens"] >= 21 * TPF
    assert second["new_tokens"] == first["new_tokens"] - second["reused_tokens"]
    assert all(c["seconds"] > 0 and c["prefill_tokens_per_s"] > 0 for c in cell["cells"])
    kv = build["kv_bytes_per_token"] * (cell["tokens"] - 1)
    assert cell["estimate_bytes"] == build["weights_bytes"] + kv
    assert cell["peak_bytes"] > 0
    assert cell["peak_over_estimate"] == round(cell["peak_bytes"] / cell["estimate_bytes"], 3)


def test_the_original_style_probe_stops_at_the_first_oom_and_reports_the_largest_fit(fp32):
    original = fp32["sections"]["original"]
    steps = original["steps"]
    assert [s["frames"] for s in steps] == [4, 8, 16, 24][: len(steps)]
    assert [s["tokens"] for s in steps] == sorted(s["tokens"] for s in steps)
    assert [s["ok"] for s in steps] == [s["tokens"] <= OOM_ABOVE for s in steps]
    assert len(steps) >= 2 and steps[-1]["oom"] is True  # stopped at the first OOM
    largest = steps[-2]
    assert original["oom_reached"] is True
    assert original["max_frames"] == largest["frames"]
    assert original["max_tokens"] == largest["tokens"]
    assert original["peak_bytes_at_max"] == largest["peak_bytes"] > 0
    assert largest["logits_bytes"] == largest["tokens"] * 2048 * 4  # fp32 already: no copy


def test_chat_generates_the_requested_tokens_on_both_frame_counts(fp32):
    runs = fp32["sections"]["chat"]["runs"]
    assert [r["frames"] for r in runs] == [2, 8]
    for run in runs:
        assert run["status"] == "ok", run
        assert run["visual_tokens"] == run["frames"] * TPF < run["prompt_tokens"]
        assert run["new_tokens"] == 8 and run["finish_reason"] == "length"
        assert run["decode_tokens_per_s"] > 0 and run["prefill_tokens_per_s"] > 0
    attention = fp32["sections"]["attention"]
    assert attention["masked"]["attention"] == "transformers_sdpa_masked"
    assert attention["mask_free"]["attention"] == "mask_free_lower_right"
    assert attention["speedup"] > 0 and attention["mask_free_verified"] is True


def test_summary_repeats_the_section_numbers(fp32):
    summary, sections = fp32["summary"], fp32["sections"]
    assert summary["cell_tokens"] == sections["cell"]["tokens"]
    assert summary["second_depth_reused_tokens"] == sections["cell"]["second_reused_tokens"]
    assert summary["peak_over_estimate"] == sections["cell"]["peak_over_estimate"]
    assert summary["original_max_tokens"] == sections["original"]["max_tokens"]
    assert summary["ours_same_pred_at_original_max"] is True
    assert set(summary["chat_decode_tokens_per_s"]) == {"2", "8"}


def test_bfloat16_runs_every_section_with_bf16_tensors(tmp_path):
    result = run_tiny(tmp_path, "--dtype", "bfloat16")
    sections = result["sections"]
    assert [s["status"] for s in sections.values()][:-1] == ["ok"] * (len(SECTIONS) - 1)
    build = sections["build"]
    assert build["param_dtype"] == "bfloat16" and build["weights_bytes"] == 2 * build["params"]
    assert build["kv_bytes_per_token"] == 2 * 2 * 2 * 16 * 2
    assert sections["agreement"]["mask_free_ok"] is True
    assert sections["original"]["oom_reached"] is False and sections["original"]["max_frames"] == 24
    last = sections["original"]["steps"][-1]
    assert last["logits_bytes"] == last["tokens"] * 2048 * (2 + 4)  # bf16 logits + fp32 copy
    assert all(r["new_tokens"] == 8 for r in sections["chat"]["runs"])


def test_bad_arguments_are_one_line_errors_before_any_compute(tmp_path):
    bad = (["--chunk-size", "0"], ["--dtype", "fp8"], ["--frames", "-3"], ["--device", "gpu"])
    for args in bad:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--tiny", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert args[0] in done.stderr


def test_a_failing_section_is_recorded_and_the_run_goes_on(monkeypatch):
    """guarded(): an OOM and an error become records (status, first line, where it happened)."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("gpu_scale", SCRIPT)
    gpu_scale = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_scale", gpu_scale)  # dataclasses look their module up
    spec.loader.exec_module(gpu_scale)
    cpu = torch.device("cpu")
    ctx = gpu_scale.Ctx(None, None, cpu, torch.float32, gpu_scale.Memory(cpu))

    def oom():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 87.00 GiB\nmore")

    def broken():
        return {"x": 1 / 0}

    assert gpu_scale.guarded(ctx, lambda: {"x": 1}) == {"status": "ok", "x": 1}
    out = gpu_scale.guarded(ctx, oom)
    assert out["status"] == "oom"
    assert out["error"] == "CUDA out of memory. Tried to allocate 87.00 GiB"
    assert out["peak_bytes"] > 0
    out = gpu_scale.guarded(ctx, broken)
    assert out["status"] == "error" and out["error"] == "ZeroDivisionError: division by zero"
    assert out["where"][-1].startswith("test_gpu_scale_tiny.py:")
    assert out["where"][-1].endswith(" broken")
