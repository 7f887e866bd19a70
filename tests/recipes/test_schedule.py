"""How one seed's stages run: the job graph, the stage locks, and workers that never change numbers."""

import json
import subprocess
import sys
import threading
import time

import pytest
import torch

from longva.recipes.cache import StageDir, stage_key
from longva.recipes.config import RecipeConfig, quick_config
from longva.recipes.reproduce import reproduce
from longva.recipes.schedule import recipe_jobs, rope_job, rope_thetas
from longva.recipes.stage_runner import RecipeRunner
from longva.utils.dataclass_config import set_path


def test_every_job_comes_after_what_it_reads_and_only_text_stages_are_serial():
    cfg = RecipeConfig()
    jobs = recipe_jobs(cfg)
    names = list(jobs)
    for i, (name, job) in enumerate(jobs.items()):
        assert all(names.index(dep) < i for dep in job.after), name  # a single process can run them in order
    assert [n for n, job in jobs.items() if job.serial] == ["v0_vision", "s0_text", "s1_long"]
    assert [rope_job(t) for t in rope_thetas(cfg)] == [n for n in names if n.startswith("vniah:short_lm θ=")]
    assert len(rope_thetas(cfg)) == len(cfg.eval.rope_sweep_factors)


def test_baselines_that_are_not_asked_for_are_not_scheduled():
    jobs = recipe_jobs(set_path(RecipeConfig(), "baselines", ["short_lm_rope"]))
    assert "s2:short_lm" in jobs and "vniah:short_lm" not in jobs  # the sweep still needs the short LM's S2
    assert not [n for n in jobs if "anyres" in n]
    no_s1 = recipe_jobs(set_path(RecipeConfig(), "stages.s1_long.enabled", False))
    assert "text_niah:s1_long" not in no_s1


def _hold_lock(sd: StageDir, holding: threading.Event, release: threading.Event) -> None:
    """Another process computing `sd`: it holds the lock until released, then finishes the stage."""
    with sd.lock():
        holding.set()
        release.wait()
        sd.begin()
        sd.finish({"by": "other"})


def test_a_stage_locked_by_another_process_is_waited_for_and_then_read_from_the_cache(tmp_path):
    runner = RecipeRunner(quick_config(), tmp_path, log=lambda message: None)
    sd = StageDir(tmp_path, "demo", stage_key("demo", {"a": 1}, {}))
    holding, release, said = threading.Event(), threading.Event(), []
    other = threading.Thread(target=_hold_lock, args=(sd, holding, release))  # "another process"
    other.start()
    holding.wait()
    runner.log = lambda message: (said.append(message), release.set())  # it lets go once we wait

    def compute(work):
        raise AssertionError("a stage another process finished must not be computed again")

    result = runner._stage("demo", {"a": 1}, {}, compute)
    other.join()
    assert "another process is computing" in said[0]
    assert result.info == {"by": "other"} and result.path == sd.final


def test_a_free_stage_lock_is_taken_without_waiting(tmp_path):
    sd = StageDir(tmp_path, "demo", "k")
    waits = []
    with sd.lock(lambda: waits.append(1)):
        pass
    with sd.lock(lambda: waits.append(1)):  # released on exit
        pass
    assert waits == []


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _kill_once_the_workers_run(out) -> bool:
    """`longva reproduce --threads 2`, killed (-9) while its worker processes align (they live on)."""
    cmd = [sys.executable, "-m", "longva.cli", "reproduce", "--quick", "--out", str(out), "--threads", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not list((out / "cache").glob("s2_align-*.partial")):
        time.sleep(0.05)
    killed = proc.poll() is None
    proc.kill()
    proc.wait()
    return killed


def test_worker_processes_give_the_numbers_of_one_process(tmp_path, torch_threads):
    """threads=2: the text stages at 2 threads, the rest at 1 thread, in 2 processes or in this one.

    The pooled run is killed while its workers align and resumed: the orphaned workers finish
    the stages they hold (the resumed run waits for their locks), nothing is computed twice."""
    cfg = set_path(quick_config(0), "threads", 2)
    assert _kill_once_the_workers_run(tmp_path / "pooled"), "the run should still be aligning when killed"
    said = []
    pooled = reproduce(cfg, tmp_path / "pooled", log=said.append)
    here = reproduce(cfg, tmp_path / "here", log=lambda message: None, workers=1)
    assert any("s0_text: cached" in m for m in said)  # the killed run's text stages are reused
    for group in ("lms", "models", "vniah", "text_niah", "video_qa"):
        a, b = getattr(pooled, group), getattr(here, group)
        assert {k: v.key for k, v in a.items()} == {k: v.key for k, v in b.items()}
    stages = [*pooled.lms.values(), *pooled.models.values(), *pooled.vniah.values()]
    assert {(s.name, s.info["threads"]) for s in stages} == {("s0_text", 2), ("s1_long", 2), ("s2_align", 1),
                                                            ("eval_vniah", 1)}
    for name, stage in pooled.vniah.items():
        assert _cells(stage.path) == _cells(here.vniah[name].path), name
    for name, stage in pooled.models.items():
        assert _losses(stage.path) == _losses(here.models[name].path), name
    assert pooled.rope_theta == here.rope_theta and pooled.rope_sweep == here.rope_sweep


def _cells(folder) -> list[tuple]:
    """Each cell's (needle, frames, depth, predicted ids), sorted: what must not depend on the workers."""
    rows = [json.loads(x) for path in sorted(folder.glob("cells*.jsonl")) for x in path.read_text().splitlines()]
    return sorted((r["needle"], r["frames"], r["depth"], r["pred_ids"]) for r in rows)


def _losses(folder) -> list[float]:
    return [json.loads(x)["loss"] for x in (folder / "train" / "metrics.jsonl").read_text().splitlines()]
