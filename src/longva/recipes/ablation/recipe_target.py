"""The toy LongVA recipe as an ablation target: its stages, facts, runs and report columns.

Which stages a change re-runs comes from `longva.recipes.stage_inputs` (the declaration the stage
cache keys on), so the compiler and the cache cannot disagree; the evaluation stages are shown as
one `eval`. A run goes through the recipe's `RecipeRunner` with one stage cache: a variant computes
only the stages its overrides change and those downstream (a pooling variant finds both text LMs
cached, an S1 schedule variant finds S0 cached). `RecipeRun` gets each stage once and records
every stage it touched (key, folder, computed or reused) for the provenance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from longva.ablation.errors import CompileError
from longva.ablation.result_tables import Column, metric_value
from longva.ablation.target import ConfigView, Target
from longva.recipes.ablation.visual_tokens import FRAMES_PATH, GRID_POLICIES, budget, vniah_grid
from longva.recipes.stage_inputs import STAGE_ORDER, TRAINING_STAGES, stages_reading
from longva.recipes.stage_runner import RecipeRunner, StageResult

EVAL = "eval"  # the evaluation stages (eval_vniah, eval_text_niah, ...) as the tables show them
BUCKETS = (("within_s0_context", "≤ S0 ctx"), ("beyond_s0_context", "> S0 ctx"),
           ("beyond_4x_s0_context", "> 4× S0 ctx"))


class RecipeRun:
    """The stages of one ablation run, each obtained once through the cached `RecipeRunner`."""

    def __init__(self, runner: RecipeRunner, spec: Any, run_dir: Path):
        self.runner = runner
        self.cfg = runner.cfg
        self.spec = spec
        self.run_dir = Path(run_dir)  # files of this run that are not stages (a benchmark's answers)
        self.label = spec.id  # shown in the evaluations' own progress lines
        self.stages: dict[str, StageResult] = {}  # by stage name, in the order they were touched
        self._memo: dict[str, StageResult | None] = {}

    def track(self, result: StageResult) -> StageResult:
        self.stages.setdefault(result.name, result)
        return result

    def once(self, role: str, make: Callable[[], StageResult | None]) -> StageResult | None:
        if role not in self._memo:
            result = make()
            self._memo[role] = self.track(result) if result is not None else None
        return self._memo[role]

    def tower(self) -> StageResult | None:
        """The pretrained vision tower (None when `stages.v0_vision.enabled` is false)."""
        return self.once("tower", self.runner.v0_vision)

    def lm(self) -> StageResult:
        """The long-context text LM (the S0 LM itself when `stages.s1_long.enabled` is false)."""
        self.once("s0", self.runner.s0_text)  # first, so the provenance lists S0 even when S1 reuses it
        return self.once("lm", self.runner.s1_long)

    def model(self) -> StageResult:
        return self.once("model", lambda: self.runner.s2_align(self.lm()))

    def prepare(self) -> None:
        self.tower()
        self.lm()
        self.model()

    def training(self) -> list[StageResult]:
        """The training stages of this run, in order (absent when disabled)."""
        self.prepare()
        return [self.stages[name] for name in TRAINING_STAGES if name in self.stages]

    def record_facts(self) -> dict[str, Any]:
        return {"tokens_per_frame": self.model().info.get("tokens_per_frame"),
                "compiled_tokens_per_frame": self.spec.facts.get("tokens_per_frame"),
                "vniah_grid": self.spec.info["vniah_grid"]}

    def provenance(self) -> dict[str, dict]:
        """Stage name -> key, folder and whether this run computed it (else the cache served it)."""
        return {name: {"key": s.key, "dir": s.path.name, "computed": name in self.runner.timings,
                       "seconds": s.info.get("seconds")} for name, s in self.stages.items()}


class RecipeTarget(Target):
    papers = ("long_context_transfer_from_language_to_vision", "longva")
    stages = (*TRAINING_STAGES, EVAL)
    training_stages = TRAINING_STAGES
    seed_path = "seed"
    primary = "vniah"
    primary_label = "V-NIAH accuracy"

    def __init__(self, vniah_grid: str = "iso-tokens", threads: int | None = None, quick: bool = False):
        if vniah_grid not in GRID_POLICIES:
            raise CompileError(f"--vniah-grid {vniah_grid!r}: expected one of {', '.join(GRID_POLICIES)}")
        self.vniah_grid = vniah_grid
        self.threads = threads  # not part of a run's key: the thread count does not change results
        self.quick = quick

    # ---- compiling ----------------------------------------------------------------------------------

    def stages_rerun(self, paths: Iterable[str]) -> list[str]:
        read = {stage for path in paths for stage in stages_reading(path)}
        shown = [EVAL if s.startswith("eval_") else s for s in STAGE_ORDER if s in read]
        return list(dict.fromkeys(shown))

    def facts(self, view: ConfigView) -> tuple[dict[str, Any], list[str]]:
        facts = budget(view)
        return facts["facts"], facts["warnings"]

    # ---- running ------------------------------------------------------------------------------------

    def prepare_run(self, executed: dict[str, Any], facts: dict[str, Any], base_facts: dict[str, Any],
                    base: ConfigView) -> tuple[dict[str, Any], dict[str, Any]]:
        """V-NIAH frames at the base's visual-token lengths (iso-tokens) or the base's frames."""
        grid = vniah_grid(self.vniah_grid, list(base.get(FRAMES_PATH)), base_facts.get("tokens_per_frame"),
                          facts.get("tokens_per_frame"), explicit=FRAMES_PATH in executed)
        extra = {} if grid.policy == "explicit" else {FRAMES_PATH: grid.frames}
        return extra, {"vniah_grid": grid.to_json()}

    def open_run(self, spec: Any, cache_root: Path, run_dir: Path, log: Callable[[str], None]) -> RecipeRun:
        cfg = spec.view.config
        if self.threads is not None:
            cfg = dataclasses.replace(cfg, threads=self.threads)
        return RecipeRun(RecipeRunner(cfg, cache_root, log), spec, run_dir)

    # ---- reporting ----------------------------------------------------------------------------------

    def fact_columns(self) -> list[Column]:
        return [Column("tokens_per_frame", "tokens/frame", "fact", lambda r: r["tokens_per_frame"]),
                Column("vniah_frames", "V-NIAH frames", "fact",
                       lambda r: ", ".join(map(str, r["vniah_grid"]["frames"])))]

    def primary_columns(self) -> list[Column]:
        return [Column("vniah", "V-NIAH acc", "number", metric_value("vniah"), chart="vniah", higher_is_better=True),
                *(Column(f"vniah.{key}", f"V-NIAH {label}", "number",
                         lambda r, key=key: r["metrics"]["vniah"]["buckets"].get(key)) for key, label in BUCKETS)]

    def extra_columns(self, taken: set[str]) -> list[Column]:
        if any(c.startswith("train_time") for c in taken):
            return []
        return [Column("train_time", "train time, all stages (s)", "number", metric_value("train_time"), fmt=".1f")]

    def describe(self) -> dict[str, Any]:
        return {"quick": self.quick, "vniah_grid": self.vniah_grid}

    def settings(self) -> list[str]:
        return [*(["--quick"] if self.quick else []), f"V-NIAH grid: {self.vniah_grid}"]

    def run_provenance(self, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
        grid = record["vniah_grid"]
        return {"vniah_grid": grid}, f"V-NIAH frames {grid['frames']} ({grid['note']})"

    def notes(self) -> list[str]:
        notes = ["V-NIAH accuracy (the recipe's primary metric) is reported for every variant of every entry,"
                 " listed by the plan or not; buckets by visual tokens of a cell, (frames + 1) x tokens/frame,"
                 " against the S0 text context."]
        if self.vniah_grid == "iso-tokens":
            notes.append("V-NIAH grid: iso-tokens. For a variant with another token count per frame the frame"
                         " counts are scaled by base/variant tokens per frame (at least 1 frame), so its haystacks"
                         " have the base grid's visual token lengths; the 'V-NIAH frames' column shows the frames"
                         " used (--vniah-grid frames keeps the base's frame counts).")
        else:
            notes.append("V-NIAH grid: the base's frame counts for every variant (--vniah-grid frames), so"
                         " variants with more tokens per frame are tested on longer visual sequences.")
        notes.append("video_qa_proxy is a synthetic long-video multiple-choice proxy, never Video-MME; a"
                     " benchmark whose dataset is absent reads 'not available: ...' and has no number.")
        if self.quick:
            notes.append("--quick: smoke-scale stages (a few training steps each); the run exercises the whole"
                         " matrix, but its accuracies are not expected to separate the variants.")
        return notes
