"""Execute a compiled plan: the runs of its matrix, resumably, then the report.

    run = run_ablation(compiled, target, base, "runs/ablate/x", seeds=3)   # run.results = results.json

The matrix: every table row (the baseline, each variant) maps to one run per seed, and rows with
the same configuration share runs (the baseline is run once however many entries show it; items
equal to the base are the baseline row). The executed configuration is the base + the variant's
overrides + the seed + what the target adds for the run (`Target.prepare_run`), and a run is named
by its hash, so a different seed or evaluation grid is a different run, never a stale reuse.

Paired seeds: seed i of every row is the base seed + i, so each variant runs with exactly the
seeds of the baseline and the report can take per-seed differences. `seeds=N` after a finished
run with fewer seeds computes only the new seeds.

Resumable: each finished run is written atomically to `<out>/variants/<run id>.json`; a rerun
skips finished runs, and the target's stage cache resumes a half-finished one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longva.ablation.compiler import CompiledPlan, Variant
from longva.ablation.errors import CompileError
from longva.ablation.registry import MetricRegistry, ResolvedMetric
from longva.ablation.result_tables import write_report
from longva.ablation.target import ConfigView
from longva.utils.io import atomic_write_json
from longva.utils.progress import console, make_progress

RECORD_VERSION = 1  # bump when the record layout changes: older records are then recomputed


@dataclass(frozen=True)
class Evaluation:
    key: str  # where the record keeps the value (`ResolvedMetric.key`)
    metric: str  # the metric id whose evaluator computes it
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSpec:
    id: str  # file stem of its result under <out>/variants/
    key: str  # config hash of the executed configuration
    seed: int
    view: ConfigView  # what runs
    overrides: dict  # relative to the base: the variant's, the seed and what the target adds
    facts: dict  # the compiler's facts of the variant (e.g. tokens per frame)
    info: dict  # what the target recorded about the run's own overrides (`prepare_run`)
    evaluate: list[Evaluation] = field(default_factory=list)  # the primary metric first
    serves: list[str] = field(default_factory=list)  # "entry / item" of the rows it serves


@dataclass
class Row:
    variant: Variant
    run_ids: list[str]  # one per seed, in seed order (paired across rows)


@dataclass
class Matrix:
    runs: list[RunSpec]  # execution order: the baseline's first
    rows: list[Row]  # the baseline row, then the plan's variants in plan order
    seeds: list[int]

    def run(self, run_id: str) -> RunSpec:
        return next(r for r in self.runs if r.id == run_id)


OnRunDone = Callable[[RunSpec, dict, bool], None]  # (spec, record, computed); raising stops the run


@dataclass
class AblationRun:
    out_dir: Path
    matrix: Matrix
    records: dict[str, dict]  # run id -> result record
    computed: list[str] = field(default_factory=list)  # run ids computed by this call
    reused: list[str] = field(default_factory=list)  # run ids whose finished result was on disk
    results: dict[str, Any] = field(default_factory=dict)  # what results.json holds


# ---- the matrix ---------------------------------------------------------------------------------


def build_matrix(compiled: CompiledPlan, target: Any, base: ConfigView, seeds: int = 1) -> Matrix:
    base_seed = int(base.get(target.seed_path))
    runs: dict[str, RunSpec] = {}
    rows = []
    for variant in [compiled.baseline, *compiled.variants]:
        if variant.error:
            continue  # the CLI refuses unresolved plans; a library caller gets the resolved rows
        run_ids = [_add_run(runs, variant, compiled, target, base, i).id for i in range(seeds)]
        rows.append(Row(variant, run_ids))
    return Matrix(list(runs.values()), rows, list(range(base_seed, base_seed + seeds)))


def _add_run(runs: dict[str, RunSpec], variant: Variant, compiled: CompiledPlan, target: Any,
             base: ConfigView, seed_offset: int) -> RunSpec:
    # A baseline row runs the base itself: a "(default)" item that differs from the base is shown, not run.
    overrides = {} if variant.is_baseline else dict(variant.overrides)
    facts = compiled.baseline.derived if variant.is_baseline else variant.derived
    # seed i of N is the row's own seed + i (a variant may ablate the seed itself)
    seed = int(overrides.get(target.seed_path, base.get(target.seed_path))) + seed_offset
    executed = {**overrides, target.seed_path: seed}
    extra, info = target.prepare_run(executed, facts, compiled.baseline.derived, base)
    executed.update(extra)
    view = base.apply(executed)
    key = view.config_hash()
    if key not in runs:
        stem = "baseline" if variant.entry == compiled.baseline.entry else \
            f"{_slug(variant.entry, 20)}--{_slug(variant.item or variant.action, 40)}"
        primary = [Evaluation(target.primary, target.primary)] if target.primary else []
        runs[key] = RunSpec(f"{stem}-seed{seed}-{key[:8]}", key, seed, view, executed, facts, info, primary)
    spec = runs[key]
    spec.serves.append(f"{variant.entry} / {variant.item}")
    for evaluation in evaluations_for(variant.metrics, compiled.registry.metrics):
        if evaluation.key not in {e.key for e in spec.evaluate}:
            spec.evaluate.append(evaluation)
    return spec


def evaluations_for(metrics: list[ResolvedMetric], registry: MetricRegistry) -> list[Evaluation]:
    """What a row's metrics evaluate: each available one that has an evaluator (measurements are
    recorded for every run anyway), and the proxy of an absent benchmark."""
    out: list[Evaluation] = []
    for m in metrics:
        spec = registry.spec(m.id)
        if spec is not None and m.available and spec.evaluate and spec.kind != "measurement":
            out.append(Evaluation(m.key, m.id, dict(m.params)))
        if m.proxy and registry.evaluator(m.proxy):
            out.append(Evaluation(m.proxy, m.proxy))
    return out


def measurement_ids(registry: MetricRegistry) -> list[str]:
    return [s.id for s in registry.specs.values() if s.kind == "measurement" and s.evaluate]


def _slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "variant"


# ---- one run ------------------------------------------------------------------------------------


def execute_run(spec: RunSpec, target: Any, metrics: MetricRegistry, cache_root: Path, run_dir: Path,
                log: Callable[[str], None]) -> dict[str, Any]:
    """Compute one run (its stages through the target's cache, then its metrics) -> its record."""
    run = target.open_run(spec, cache_root, run_dir, log)
    start = time.perf_counter()
    run.prepare()
    values = {e.key: metrics.evaluator(e.metric)(run, e.params) for e in spec.evaluate}
    values.update({mid: metrics.evaluator(mid)(run, {}) for mid in measurement_ids(metrics)})
    return {
        "version": RECORD_VERSION, "id": spec.id, "key": spec.key, "seed": spec.seed, "serves": spec.serves,
        "overrides": spec.overrides, **run.record_facts(), "stages": run.provenance(), "metrics": values,
        "wall_s": round(time.perf_counter() - start, 2),
    }


def is_reusable(record: dict[str, Any] | None, spec: RunSpec, metrics: MetricRegistry) -> bool:
    """A finished record answers `spec` when it ran the same configuration and has every metric."""
    if not record or record.get("version") != RECORD_VERSION or record.get("key") != spec.key:
        return False
    wanted = [e.key for e in spec.evaluate] + measurement_ids(metrics)
    return all(m in record.get("metrics", {}) for m in wanted)


# ---- the whole plan -----------------------------------------------------------------------------


def run_ablation(compiled: CompiledPlan, target: Any, base: ConfigView, out_dir: Path | str, seeds: int = 1, *,
                 cache_dir: Path | str | None = None, on_run_done: OnRunDone | None = None,
                 meta: dict[str, Any] | None = None) -> AblationRun:
    """Run every distinct configuration of `compiled` (resuming) and write the report into `out_dir`.

    `base` must be the configuration the plan was compiled against; `target` runs it (the
    registry's target, or one with other run settings)."""
    compiled.raise_if_unresolved()
    if seeds < 1:
        raise CompileError(f"--seeds {seeds}: expected an integer >= 1")
    if base.config_hash() != compiled.baseline.run_id:  # overrides were derived from another base
        raise CompileError(f"base recipe {base.origin!r} (hash {base.config_hash()}) is not the one the plan was"
                           f" compiled against (hash {compiled.baseline.run_id}); pass the same base to both")
    out = Path(out_dir)
    run = AblationRun(out, build_matrix(compiled, target, base, seeds), {})
    _execute_all(run, target, compiled.registry.metrics, Path(cache_dir) if cache_dir else out / "cache",
                 on_run_done)
    run.results = write_report(compiled, run, target, {"base": base.origin, **(meta or {})})
    return run


def variant_path(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir) / "variants" / f"{run_id}.json"


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or unreadable: the run is (re)computed


def _execute_all(run: AblationRun, target: Any, metrics: MetricRegistry, cache_root: Path,
                 on_run_done: OnRunDone | None) -> None:
    runs = run.matrix.runs
    with make_progress() as progress:
        task = progress.add_task("ablation runs", total=len(runs))
        started = time.perf_counter()
        for index, spec in enumerate(runs, 1):
            path = variant_path(run.out_dir, spec.id)
            record = _load(path)
            computed = not is_reusable(record, spec, metrics)
            if computed:
                progress.update(task, description=f"run {spec.id}")
                console.print(f"[bold][{index}/{len(runs)}][/bold] {', '.join(spec.serves)} (seed {spec.seed})",
                              soft_wrap=True)
                record = execute_run(spec, target, metrics, cache_root, path.with_suffix(""),
                                     log=lambda m: console.print(f"    {m}"))
                atomic_write_json(path, record)
                run.computed.append(spec.id)
            else:
                run.reused.append(spec.id)
            run.records[spec.id] = record
            progress.advance(task)
            _log_done(index, len(runs), spec, record, computed, started, len(run.computed), target)
            if on_run_done is not None:
                on_run_done(spec, record, computed)


def _log_done(index: int, total: int, spec: RunSpec, record: dict, computed: bool, started: float,
              n_computed: int, target: Any) -> None:
    """One line per run, with an ETA from the runs computed so far (also when stderr is not a terminal)."""
    if not computed:
        console.print(f"[dim][{index}/{total}] {spec.id}: finished earlier, reused[/dim]", soft_wrap=True)
        return
    per_run = (time.perf_counter() - started) / max(n_computed, 1)
    primary = record["metrics"].get(target.primary, {}).get("value") if target.primary else None
    shown = f" {target.primary_label or target.primary} {_fmt(primary)};" if target.primary else ""
    console.print(f"[{index}/{total}] {spec.id}: done in {record['wall_s']:.1f} s;{shown}"
                  f" ETA ~{per_run * (total - index):.0f} s", soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
