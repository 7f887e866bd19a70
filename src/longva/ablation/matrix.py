"""A compiled plan -> the runs to execute: one per distinct configuration and seed.

Every table row (the baseline, each variant) maps to one run per seed. Rows with the same
configuration share runs: the baseline is run once however many entries show it, and items equal
to the base (or marked "(default)") are the baseline row. The executed configuration is the base
+ the variant's overrides + `seed` + the variant's V-NIAH frames (see `vniah_grid`), and the run is
named by its hash, so a different grid or seed is a different run and never a stale reuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from longva.ablation.compiler import CompiledPlan, Variant
from longva.ablation.evaluators import evaluator_ids_for
from longva.ablation.recipe import RecipeView
from longva.ablation.vniah_grid import FRAMES_PATH, VniahGrid, vniah_grid

PRIMARY = "vniah"  # the recipe's primary metric: reported for every variant, listed or not


@dataclass
class RunSpec:
    id: str  # file stem of its result under <out>/variants/
    key: str  # config hash of the executed configuration
    seed: int
    view: RecipeView  # what runs
    overrides: dict  # relative to the base: the variant's, plus seed and V-NIAH frames
    tokens_per_frame: int | None  # from the compiler's token arithmetic
    grid: VniahGrid
    evaluate: list[str] = field(default_factory=list)  # evaluator ids, the primary first
    serves: list[str] = field(default_factory=list)  # "entry / item" of the rows it serves


@dataclass
class Row:
    variant: Variant
    run_ids: list[str]  # one per seed


@dataclass
class Matrix:
    runs: list[RunSpec]  # execution order: the baseline's first
    rows: list[Row]  # the baseline row, then the plan's variants in plan order
    seeds: list[int]
    grid_policy: str

    def run(self, run_id: str) -> RunSpec:
        return next(r for r in self.runs if r.id == run_id)


def build_matrix(compiled: CompiledPlan, base: RecipeView, seeds: int = 1, grid_policy: str = "iso-tokens") -> Matrix:
    base_seed = int(base.get("seed"))
    seed_list = list(range(base_seed, base_seed + seeds))
    runs: dict[str, RunSpec] = {}
    rows = []
    for variant in [compiled.baseline, *compiled.variants]:
        if variant.error:
            continue  # the CLI refuses unresolved plans; a library caller gets the resolved rows
        run_ids = [_add_run(runs, variant, compiled, base, i, grid_policy).id for i in range(seeds)]
        rows.append(Row(variant, run_ids))
    return Matrix(list(runs.values()), rows, seed_list, grid_policy)


def _add_run(runs: dict[str, RunSpec], variant: Variant, compiled: CompiledPlan, base: RecipeView,
             seed_offset: int, grid_policy: str) -> RunSpec:
    # A baseline row runs the base itself: a "(default)" item that differs from the base is shown, not run.
    overrides = {} if variant.is_baseline else dict(variant.overrides)
    tpf = compiled.baseline.tokens_per_frame if variant.is_baseline else variant.tokens_per_frame
    grid = vniah_grid(grid_policy, list(base.get(FRAMES_PATH)), compiled.baseline.tokens_per_frame, tpf,
                      explicit=FRAMES_PATH in overrides)
    # seed i of N is the row's own seed + i (a variant may ablate the seed itself)
    executed = {**overrides, "seed": int(overrides.get("seed", base.get("seed"))) + seed_offset}
    if grid.policy != "explicit":
        executed[FRAMES_PATH] = grid.frames
    view = base.apply(executed)
    key = view.config_hash()
    if key not in runs:
        stem = "baseline" if variant.entry == compiled.baseline.entry else \
            f"{_slug(variant.entry, 20)}--{_slug(variant.item or variant.action, 40)}"
        runs[key] = RunSpec(f"{stem}-seed{executed['seed']}-{key[:8]}", key, executed["seed"], view,
                            executed, tpf, grid, [PRIMARY])
    spec = runs[key]
    spec.serves.append(f"{variant.entry} / {variant.item}")
    for metric_id in evaluator_ids_for(variant.metrics):
        if metric_id not in spec.evaluate:
            spec.evaluate.append(metric_id)
    return spec


def _slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "variant"
