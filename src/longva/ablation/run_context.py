"""The stages of one ablation run, each obtained once through the recipe's cached `RecipeRunner`.

A run needs the text LM (`s1_long()`, which is the S0 LM when S1 is disabled), the vision model
(`s2_align(lm)`) and then whatever its metrics evaluate. The stage cache decides what is actually
computed: a pooling variant finds both text LMs cached, an S1 schedule variant finds S0 cached. The
context records every stage it touched (key, folder, computed or reused) for the provenance.
"""

from __future__ import annotations

from collections.abc import Callable

from longva.recipes.runner import RecipeRunner, StageResult

TRAINING_STAGES = ("s0_text", "s1_long", "s2_align")


class RunContext:
    def __init__(self, runner: RecipeRunner, label: str):
        self.runner = runner
        self.cfg = runner.cfg
        self.label = label  # shown in the evaluations' own progress lines
        self.stages: dict[str, StageResult] = {}  # by stage name, in the order they were touched
        self._memo: dict[str, StageResult] = {}

    def track(self, result: StageResult) -> StageResult:
        self.stages.setdefault(result.name, result)
        return result

    def once(self, role: str, make: Callable[[], StageResult]) -> StageResult:
        if role not in self._memo:
            self._memo[role] = self.track(make())
        return self._memo[role]

    def s0(self) -> StageResult:
        return self.once("s0", self.runner.s0_text)

    def lm(self) -> StageResult:
        """The long-context text LM (the S0 LM itself when `stages.s1_long.enabled` is false)."""
        self.s0()  # first, so the provenance lists S0 even when S1 reuses it from the cache
        return self.once("lm", self.runner.s1_long)

    def model(self) -> StageResult:
        return self.once("model", lambda: self.runner.s2_align(self.lm()))

    def training(self) -> list[StageResult]:
        """The training stages of this run, in order (S1 absent when disabled)."""
        self.model()
        return [self.stages[name] for name in TRAINING_STAGES if name in self.stages]

    def provenance(self) -> dict[str, dict]:
        """Stage name -> key, folder and whether this run computed it (else the cache served it)."""
        return {name: {"key": s.key, "dir": s.path.name, "computed": name in self.runner.timings,
                       "seconds": s.info.get("seconds")} for name, s in self.stages.items()}
