"""Execute a compiled plan (part 4 of the `longva ablate` issue; not written yet).

The contract the runner will fulfil: the baseline runs once and every variant re-runs only its
`stages` (upstream artefacts come from a cache keyed by config hash); `--seeds N` repeats every
run including the baseline and reports mean ± std; metrics whose data is absent are reported as
"not available: ..." (never a number); results go to `out_dir` as JSON + markdown.
"""

from __future__ import annotations

from pathlib import Path

from longva.ablation.compiler import CompiledPlan


def run_plan(compiled: CompiledPlan, out_dir: Path | None = None, seeds: int = 1, quick: bool = False) -> Path:
    """Run every distinct configuration of `compiled` and write the report; returns its folder."""
    raise NotImplementedError("runner arrives with the reproduction recipe")
