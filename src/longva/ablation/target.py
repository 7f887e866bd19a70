"""What a plan is compiled against and run on: a configuration view and a recipe's adapter.

The engine knows no recipe. A recipe adapter (this package's: `longva.recipes.ablation`) gives it
- a `ConfigView` of its base configuration: dotted paths, typed overrides (through `set_path`, so
  a value is validated like any `--set`, and an unknown path fails with the close names) and a
  content hash that names runs;
- a `Target`: which stages a changed path re-runs, the facts derived from a configuration (e.g.
  tokens per frame), how one run is configured and executed, and the columns and notes its report
  adds. The engine calls nothing else of the recipe.
"""

from __future__ import annotations

import copy
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from longva.errors import ConfigError
from longva.utils.dataclass_config import get_path, set_path, to_dict


class ConfigView:
    """Immutable view of one configuration (the base, or the base plus overrides).

    A path must already exist, even inside a free-form mapping, so a typo is never silently added.
    Subclasses override `canonical` when two spellings of a configuration mean the same thing."""

    def __init__(self, config: Any, origin: str):
        self._config = config  # any dataclass tree
        self._tree = to_dict(config)
        self.origin = origin

    def get(self, path: str) -> Any:
        """Value at `path`; unknown paths raise ConfigError listing close names."""
        return get_path(self._config, path)

    def has(self, path: str) -> bool:
        try:
            self.get(path)
        except ConfigError:
            return False
        return True

    @property
    def config(self) -> Any:
        """The configuration itself; treat it as read-only, change it with `apply`."""
        return self._config

    def apply(self, overrides: Mapping[str, Any]) -> ConfigView:
        """A new view (same class and origin) with `overrides` (dotted path -> value) applied."""
        config = self._config
        for path, value in overrides.items():
            self.get(path)  # existing paths only: a typo in a free-form mapping is still an error
            config = set_path(config, path, value)
        return type(self)(config, self.origin)

    def canonical(self, tree: dict[str, Any]) -> dict[str, Any]:
        """The configuration tree with equivalent spellings unified (identity by default)."""
        return tree

    def config_hash(self) -> str:
        """Content hash of the configuration (equivalent spellings hash the same)."""
        blob = json.dumps(self.canonical(copy.deepcopy(self._tree)), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


class RunHandle(Protocol):
    """One run being executed; metric evaluators receive it (`MetricSpec.evaluate(run, params)`)."""

    def prepare(self) -> None:
        """Compute what every metric needs (e.g. train the model) before any metric is evaluated."""

    def record_facts(self) -> dict[str, Any]:
        """Facts of the finished run for its record (e.g. the tokens per frame it really has)."""

    def provenance(self) -> dict[str, dict]:
        """Stage name -> {key, dir, computed, seconds}: what the run used and what it computed."""


class Target(ABC):
    """A recipe as the engine sees it; the recipe's adapter subclasses it."""

    papers: tuple[str, ...] = ()  # lowercase slugs of papers whose plans are about this recipe itself
    stages: tuple[str, ...] = ()  # every stage, in execution order (what the baseline runs)
    training_stages: tuple[str, ...] = ()  # where per-stage measurements are read (an entry's focus)
    seed_path: str = "seed"  # the config path each run's seed is written to
    primary: str | None = None  # a metric id reported for every variant, listed by the plan or not
    primary_label: str = ""  # how notes name it

    @abstractmethod
    def stages_rerun(self, paths: Iterable[str]) -> list[str]:
        """Stages (names from `stages`) that a change of these config paths re-runs, in order."""

    def facts(self, view: ConfigView) -> tuple[dict[str, Any], list[str]]:
        """Facts derived from a configuration (shown per variant; `tokens_per_frame` gets its own
        field and column) and warnings about it. Raise CompileError when it cannot run."""
        return {}, []

    def prepare_run(self, executed: dict[str, Any], facts: dict[str, Any], base_facts: dict[str, Any],
                    base: ConfigView) -> tuple[dict[str, Any], dict[str, Any]]:
        """Overrides a run adds to `executed` (e.g. evaluation lengths scaled to its tokens per
        frame), and what its record says about them."""
        return {}, {}

    @abstractmethod
    def open_run(self, spec: Any, cache_root: Path, run_dir: Path, log: Callable[[str], None]) -> RunHandle:
        """A handle on one run of the matrix (`execution.RunSpec`): its stages behind `cache_root`,
        its own files (e.g. a benchmark's answers) under `run_dir`."""

    def run_provenance(self, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Fields a row's provenance copies from its first run record, and the same as a phrase."""
        return {}, ""

    def fact_columns(self) -> list:
        """Report columns shown first, read from the run records (`result_tables.Column`)."""
        return []

    def primary_columns(self) -> list:
        """The primary metric's report columns (the first one is the metric itself)."""
        return []

    def extra_columns(self, taken: set[str]) -> list:
        """Columns every entry shows after the plan's metrics (ids in `taken` are already shown)."""
        return []

    def describe(self) -> dict[str, Any]:
        """Settings of this target that results.json records (e.g. {"quick": False})."""
        return {}

    def settings(self) -> list[str]:
        """The same settings as short phrases for the report's header line."""
        return []

    def notes(self) -> list[str]:
        """Notes the report gives before its tables (how to read this recipe's columns)."""
        return []
