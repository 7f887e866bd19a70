"""2-process gloo checks under torchrun: ring attention, FSDP2, context parallel, resume.

One `torchrun --nproc_per_node 2` launch runs every check (`dist_checks.py`) and reports the
measured errors; each test below asserts one of them.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("dist_checks.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    out = tmp / "results.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(TORCHRUN), "--nproc_per_node", "2", "--master_port", str(_free_port()), str(SCRIPT), str(out), str(tmp)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def test_two_ranks(results):
    assert results["world"] == 2


@pytest.mark.parametrize(
    "case, tol",
    [("fp64_gqa", 1e-10), ("fp64_mha", 1e-10), ("fp32_gqa", 1e-5), ("fp64_gqa_math", 1e-10), ("fp32_gqa_math", 1e-5)],
)
def test_ring_attention_forward_and_backward_match_sdpa(results, case, tol):
    errors = results["ring"][case]
    for key in ("out", "dq", "dk", "dv"):
        assert errors[key] <= tol, (case, key, errors[key])


def test_ring_sends_kv_heads_not_expanded_heads(results):
    # every message over the ring is (2, B, Hkv=2, 2c, D) even with 4 or 6 query heads
    for case in ("fp64_gqa", "fp32_gqa", "fp32_gqa_math"):
        assert results["ring"][case]["sent_heads"] == [2]


@pytest.mark.parametrize("case", ["fsdp", "cp", "cp_fsdp"])
def test_parallel_step_equals_single_process_step(results, case):
    r = results[case]
    assert r["tokens"][0] == r["tokens"][1] > 0
    assert abs(r["loss"][0] - r["loss"][1]) <= 1e-6 * abs(r["loss"][1])
    assert r["grad_err"] <= 1e-5
    assert r["weights_moved"] > 1e-4  # the step changed the weights ...
    assert r["weight_abs_err"] <= 1e-7  # ... identically (fp32 ulps)


def test_fsdp_context_parallel_resume_reproduces_losses(results):
    r = results["resume"]
    assert r["resumed_from"] == 2  # killed after step 3, newest checkpoint: step 2
    assert r["killed"] == r["full"][:3]
    assert r["resumed"] == pytest.approx(r["full"][2:], rel=1e-6, abs=1e-6)
    assert r["export_err"] == 0.0  # final/ of the sharded model holds exactly the trained weights
