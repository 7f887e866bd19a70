"""Execute a compiled plan (part 4 of the `longva ablate` issue) and write its report.

    result = run_plan(compiled, base=view, out_dir="runs/ablate/x", seeds=2)

- The baseline runs once (one run per distinct configuration and seed, see `matrix`), then every
  variant = base + its overrides, through `RecipeRunner` with ONE stage cache
  (`<out>/cache` unless `cache_dir` is given): a variant computes only the stages its overrides
  change and the ones downstream; the rest comes from the cache.
- Resumable: each finished run is written atomically to `<out>/variants/<run id>.json`; a rerun
  skips finished runs, and the stage cache resumes a half-finished one at its last finished stage
  (or checkpoint, or V-NIAH cell).
- `seeds=N`: every row, the baseline included, runs with seeds base..base+N-1; the report gives
  mean ± std.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longva.ablation.compiler import CompiledPlan
from longva.ablation.errors import CompileError
from longva.ablation.execute import execute_run, is_reusable
from longva.ablation.matrix import Matrix, RunSpec, build_matrix
from longva.ablation.recipe import RecipeView
from longva.ablation.vniah_grid import GRID_POLICIES
from longva.utils.io import atomic_write_json
from longva.utils.progress import console, make_progress

OnRunDone = Callable[[RunSpec, dict, bool], None]  # (spec, record, computed); raising stops the run


@dataclass
class AblationRun:
    out_dir: Path
    matrix: Matrix
    records: dict[str, dict]  # run id -> result record
    computed: list[str] = field(default_factory=list)  # run ids computed by this call
    reused: list[str] = field(default_factory=list)  # run ids whose finished result was on disk
    results: dict[str, Any] = field(default_factory=dict)  # what results.json holds


def run_plan(compiled: CompiledPlan, out_dir: Path | str | None = None, seeds: int = 1, quick: bool = False, *,
             base: RecipeView | None = None, threads: int | None = None, vniah_grid: str = "iso-tokens",
             cache_dir: Path | str | None = None, on_run_done: OnRunDone | None = None) -> AblationRun:
    """Run every distinct configuration of `compiled` (resuming) and write the report into `out_dir`.

    `base` must be the recipe the plan was compiled against (default: `RecipeView.default(quick)`).
    """
    from longva.ablation.report import write_report  # lazy: matplotlib is only needed at the end

    compiled.raise_if_unresolved()
    base = base or RecipeView.default(quick=quick)
    _check_arguments(compiled, base, seeds, vniah_grid)
    out = Path(out_dir) if out_dir else default_out_dir(compiled)
    matrix = build_matrix(compiled, base, seeds, vniah_grid)
    run = AblationRun(out, matrix, {})
    _execute_all(run, Path(cache_dir) if cache_dir else out / "cache", threads, on_run_done)
    run.results = write_report(compiled, run, {"base": base.origin, "quick": quick, "threads": threads})
    return run


def default_out_dir(compiled: CompiledPlan) -> Path:
    stem = Path(compiled.plan.source).stem if compiled.plan.source else "plan"
    return Path("runs") / "ablate" / stem


def variant_path(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir) / "variants" / f"{run_id}.json"


def _check_arguments(compiled: CompiledPlan, base: RecipeView, seeds: int, vniah_grid: str) -> None:
    if seeds < 1:
        raise CompileError(f"--seeds {seeds}: expected an integer >= 1")
    if vniah_grid not in GRID_POLICIES:
        raise CompileError(f"--vniah-grid {vniah_grid!r}: expected one of {', '.join(GRID_POLICIES)}")
    if base.config_hash() != compiled.baseline.run_id:  # overrides were derived from another base
        raise CompileError(f"base recipe {base.origin!r} (hash {base.config_hash()}) is not the one the plan was"
                           f" compiled against (hash {compiled.baseline.run_id}); pass the same base to both")


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or unreadable: the run is (re)computed


def _execute_all(run: AblationRun, cache_root: Path, threads: int | None, on_run_done: OnRunDone | None) -> None:
    runs = run.matrix.runs
    with make_progress() as progress:
        task = progress.add_task("ablation runs", total=len(runs))
        started = time.perf_counter()
        for index, spec in enumerate(runs, 1):
            path = variant_path(run.out_dir, spec.id)
            record = _load(path)
            computed = not is_reusable(record, spec)
            if computed:
                progress.update(task, description=f"run {spec.id}")
                console.print(f"[bold][{index}/{len(runs)}][/bold] {', '.join(spec.serves)} (seed {spec.seed})",
                              soft_wrap=True)
                record = execute_run(spec, cache_root, threads, log=lambda m: console.print(f"    {m}"))
                atomic_write_json(path, record)
                run.computed.append(spec.id)
            else:
                run.reused.append(spec.id)
            run.records[spec.id] = record
            progress.advance(task)
            _log_done(index, len(runs), spec, record, computed, started, len(run.computed))
            if on_run_done is not None:
                on_run_done(spec, record, computed)


def _log_done(index: int, total: int, spec: RunSpec, record: dict, computed: bool, started: float,
              n_computed: int) -> None:
    """One line per run, with an ETA from the runs computed so far (also when stderr is not a terminal)."""
    if not computed:
        console.print(f"[dim][{index}/{total}] {spec.id}: finished earlier, reused[/dim]", soft_wrap=True)
        return
    per_run = (time.perf_counter() - started) / max(n_computed, 1)
    console.print(f"[{index}/{total}] {spec.id}: done in {record['wall_s']:.1f} s;"
                  f" V-NIAH {_fmt(record['metrics']['vniah']['value'])}; ETA ~{per_run * (total - index):.0f} s",
                  soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
