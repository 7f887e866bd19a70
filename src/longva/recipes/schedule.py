"""One seed of `longva reproduce` as a graph of stage jobs, and how it runs on N threads.

    v0_vision, s0_text -> s1_long                    serial: the calling process, all N threads
    s2:longva   (s1_long) -> vniah:longva, video_qa:longva
    s2:short_lm (s0_text) -> vniah:short_lm, vniah:short_lm θ=... (the RoPE sweep)
    s2:anyres   (s1_long) -> vniah:anyres
    text_niah:s0_text, text_niah:s1_long

The text stages are a chain (S1 continues S0's LM; V0 is short), so they run one after the other
with every thread. What follows is a dozen stages that need only them: three alignments and their
evaluations. With N > 1 threads they run in N one-thread worker processes, longest chain first.
The toy models are too small for two threads to halve a step: on the 2-core machine an S2
alignment took 32 s at 2 threads and 45 s at 1 thread next to another one (two in 46 s instead of
65 s), a V-NIAH evaluation 3.5 s and 4.6 s; a seed 178 s before, 138 s this way.

How many threads a stage gets is fixed by the config (N for the text stages, 1 for the rest when
N > 1), never by timing, so a seed's numbers do not depend on which job finished first; each stage
is seeded on its own, so the order does not matter either.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import torch

from longva.recipes.cache import StageDir
from longva.recipes.config import RecipeConfig
from longva.recipes.stage_runner import RecipeRunner, StageResult
from longva.utils import progress
from longva.utils.cli_errors import only_own_warnings
from longva.utils.progress import console

Deps = dict[str, "StageResult | None"]


@dataclass(frozen=True)
class Job:
    run: Callable[[RecipeRunner, Deps], StageResult | None]  # upstream results by job name -> this stage
    after: tuple[str, ...] = ()
    seconds: float = 5.0  # rough one-thread cost: the pool starts the longest remaining chain first
    serial: bool = False  # a text stage: in the calling process, with every thread


def rope_thetas(cfg: RecipeConfig) -> list[float]:
    """short_lm_rope's evaluation θ sweep: the factors x the S0 base (the S1 θ if there are none)."""
    base = cfg.stages.s0_text.rope_theta
    return [float(base * f) for f in cfg.eval.rope_sweep_factors] or [float(cfg.stages.s1_long.rope_theta)]


def rope_job(theta: float) -> str:
    return f"vniah:short_lm θ={theta:g}"


def recipe_jobs(cfg: RecipeConfig) -> dict[str, Job]:
    """Every stage of one seed, in the order a single process runs them."""
    jobs = {
        "v0_vision": Job(lambda r, d: r.v0_vision(), serial=True),
        "s0_text": Job(lambda r, d: r.s0_text(), serial=True),
        "s1_long": Job(lambda r, d: r.s1_long(), ("s0_text",), serial=True),
        "s2:longva": Job(lambda r, d: r.s2_align(d["s1_long"]), ("v0_vision", "s1_long"), 50),
        "vniah:longva": Job(lambda r, d: r.vniah(d["s2:longva"], label="V-NIAH longva"), ("s2:longva",)),
    }
    if {"short_lm", "short_lm_rope"} & set(cfg.baselines):
        jobs["s2:short_lm"] = Job(lambda r, d: r.s2_align(d["s0_text"]), ("v0_vision", "s0_text"), 50)
    if "short_lm" in cfg.baselines:
        jobs["vniah:short_lm"] = Job(lambda r, d: r.vniah(d["s2:short_lm"], label="V-NIAH short_lm"), ("s2:short_lm",))
    if "short_lm_rope" in cfg.baselines:
        for theta in rope_thetas(cfg):
            jobs[rope_job(theta)] = Job(_rope_vniah(theta), ("s2:short_lm",))
    if "anyres" in cfg.baselines:
        jobs["s2:anyres"] = Job(lambda r, d: r.s2_align(d["s1_long"], scheme="anyres"), ("v0_vision", "s1_long"), 35)
        jobs["vniah:anyres"] = Job(lambda r, d: r.vniah(d["s2:anyres"], label="V-NIAH anyres"), ("s2:anyres",))
    jobs["text_niah:s0_text"] = Job(lambda r, d: r.text_niah(d["s0_text"], label="text NIAH s0"), ("s0_text",), 1.5)
    if cfg.stages.s1_long.enabled:
        jobs["text_niah:s1_long"] = Job(lambda r, d: r.text_niah(d["s1_long"], label="text NIAH s1"), ("s1_long",), 1.5)
    jobs["video_qa:longva"] = Job(lambda r, d: r.video_qa_proxy(d["s2:longva"]), ("s2:longva",), 2)
    return jobs


def _rope_vniah(theta: float) -> Callable[[RecipeRunner, Deps], StageResult]:
    return lambda r, d: r.vniah(d["s2:short_lm"], rope_theta=theta, label=f"V-NIAH short_lm_rope θ={theta:g}")


def run_jobs(cfg: RecipeConfig, runner: RecipeRunner, workers: int | None = None) -> dict[str, StageResult | None]:
    """Run (or find cached) every job of `cfg`'s seed; returns each job's stage.

    `workers` (default: `cfg.threads`) only decides how many processes run the one-thread
    stages; `workers=1` runs them here, one after the other, with the same numbers."""
    jobs, workers = recipe_jobs(cfg), workers or cfg.threads
    done: dict[str, StageResult | None] = {}
    for name in [n for n, job in jobs.items() if job.serial or cfg.threads == 1]:
        done[name] = _run_here(name, jobs[name], runner, done)
    one_thread = dataclasses.replace(cfg, threads=1)
    single = RecipeRunner(one_thread, runner.cache_root, runner.log)
    cached = _cached_jobs(jobs, one_thread, runner.cache_root)
    for name in [n for n in jobs if n not in done and (n in cached or workers == 1)]:
        if all(d in done for d in jobs[name].after):  # a resumed run reads these without starting workers
            done[name] = _run_here(name, jobs[name], single, done)
    rest = [name for name in jobs if name not in done]
    if rest:
        _run_pool(jobs, rest, done, one_thread, runner, workers)
    return done


def _run_here(name: str, job: Job, runner: RecipeRunner, done: dict) -> StageResult | None:
    """Run `job` in this process (`done` holds at least its upstream stages), its progress lines named."""
    progress.prefix_lines(f"{name} | ")  # "s0_text | train: 80/200 ..."
    try:
        return job.run(runner, {d: done[d] for d in job.after})
    finally:
        progress.prefix_lines("")


def _cached_jobs(jobs: dict[str, Job], cfg: RecipeConfig, cache_root: Path) -> set[str]:
    """The jobs whose stage is already in the cache (keys from a dry run: nothing is read)."""
    probe, keys = RecipeRunner(cfg, cache_root, log=lambda message: None, dry_run=True), {}
    for name, job in jobs.items():
        keys[name] = job.run(probe, {d: keys[d] for d in job.after})
    return {name for name, st in keys.items() if st is not None and StageDir(Path(cache_root), st.name, st.key).done}


def _chain_seconds(jobs: dict[str, Job]) -> dict[str, float]:
    """A job's cost plus the longest chain of jobs waiting on it (its scheduling priority)."""
    out: dict[str, float] = {}
    for name in reversed(list(jobs)):  # insertion order is topological
        after = [out[n] for n, job in jobs.items() if name in job.after and n in out]
        out[name] = jobs[name].seconds + max(after, default=0.0)
    return out


def _run_pool(jobs: dict[str, Job], names: list[str], done: dict, one_thread: RecipeConfig, runner: RecipeRunner,
              workers: int) -> None:
    priority = _chain_seconds(jobs)
    pending, running = set(names), {}
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(one_thread, str(runner.cache_root), os.getpid()))
    with pool:
        while pending or running:
            ready = [n for n in names if n in pending and all(d in done for d in jobs[n].after)]
            ready.sort(key=lambda n: -priority[n])  # stable: ties keep the graph's order
            for name in ready[: workers - len(running)]:
                pending.discard(name)
                running[pool.submit(_work, name, {d: done[d] for d in jobs[name].after})] = name
            if not running:  # a job after one that is neither done nor scheduled: a bug in the graph
                raise RuntimeError(f"jobs {sorted(pending)} wait for stages that never run")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                done[name] = _result(future, name, running, runner)


def _result(future: Future, name: str, running: dict, runner: RecipeRunner) -> StageResult | None:
    try:
        return future.result()
    except BaseException:
        if running:  # their stages finish and stay cached; a rerun resumes after them
            runner.log(f"[red]{name} failed[/red]; waiting for {', '.join(running.values())} to finish")
        raise


# ---- inside a worker process -------------------------------------------------------------------

_worker: dict = {}


def _start_worker(cfg: RecipeConfig, cache_root: str, parent: int) -> None:
    torch.set_num_threads(cfg.threads)
    only_own_warnings()  # as the command does in the parent
    if os.environ.get("LONGVA_PROGRESS") != "0":  # two live bars on one terminal would garble
        os.environ["LONGVA_PROGRESS"] = "lines"
    _worker["jobs"] = recipe_jobs(cfg)
    _worker["runner"] = RecipeRunner(cfg, Path(cache_root), log=lambda message: console.print(message, soft_wrap=True))
    _worker["busy"] = False
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _work(name: str, deps: Deps) -> StageResult | None:
    runner: RecipeRunner = _worker["runner"]
    runner.log = lambda message: console.print(f"[cyan]{name}[/cyan] | {message}", soft_wrap=True)
    _worker["busy"] = True
    try:
        return _run_here(name, _worker["jobs"][name], runner, deps)
    finally:
        _worker["busy"] = False


def _exit_when_orphaned(parent: int) -> None:
    """A killed `reproduce` leaves its workers waiting for jobs forever: each finishes the stage it
    holds (it stays cached, and a resumed run waits for its lock), then exits."""
    while os.getppid() == parent or _worker["busy"]:
        time.sleep(0.5)
    os._exit(0)
