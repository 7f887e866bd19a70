"""Execute one run of the matrix: its stages through the shared stage cache, then its metrics.

The result record is what `<out>/variants/<run id>.json` holds: the executed configuration (as
overrides of the base), the stages it used (key, folder, computed or served by the cache), the
tokens per frame the trained model really has, the V-NIAH frames and every metric value.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from longva.ablation.evaluators import EVALUATORS, MEASUREMENTS
from longva.ablation.matrix import RunSpec
from longva.ablation.run_context import RunContext
from longva.recipes.runner import RecipeRunner

RECORD_VERSION = 1  # bump when the record layout changes: older records are then recomputed


def execute_run(spec: RunSpec, cache_root: Path, threads: int | None = None, log=None) -> dict[str, Any]:
    cfg = spec.view.config
    if threads is not None:  # not part of the run's key: thread count does not change what is computed
        cfg = dataclasses.replace(cfg, threads=threads)
    ctx = RunContext(RecipeRunner(cfg, cache_root, log), spec.id)
    start = time.perf_counter()
    ctx.lm()
    model = ctx.model()
    metrics = {metric_id: EVALUATORS[metric_id](ctx) for metric_id in spec.evaluate}
    metrics.update({metric_id: EVALUATORS[metric_id](ctx) for metric_id in MEASUREMENTS})
    return {
        "version": RECORD_VERSION,
        "id": spec.id,
        "key": spec.key,
        "seed": spec.seed,
        "serves": spec.serves,
        "overrides": spec.overrides,
        "tokens_per_frame": model.info.get("tokens_per_frame"),
        "compiled_tokens_per_frame": spec.tokens_per_frame,
        "vniah_grid": {"policy": spec.grid.policy, "frames": spec.grid.frames, "note": spec.grid.note},
        "stages": ctx.provenance(),
        "metrics": metrics,
        "wall_s": round(time.perf_counter() - start, 2),
    }


def is_reusable(record: dict[str, Any] | None, spec: RunSpec) -> bool:
    """A finished record answers `spec` when it ran the same configuration and has every metric."""
    if not record or record.get("version") != RECORD_VERSION or record.get("key") != spec.key:
        return False
    return all(m in record.get("metrics", {}) for m in (*spec.evaluate, *MEASUREMENTS))
