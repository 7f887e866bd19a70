"""What plans can name: knobs, their value recognisers, stage qualifiers, metrics, the target.

A registry starts empty; a recipe's adapter fills it with an explicit call, and so do plugins:

    from longva.ablation.registry import Registry
    from longva.recipes.ablation.adapter import register
    registry = Registry()
    register(registry)                      # the recipe's knobs, phrasings, metrics and target
    load_plugins(registry, ["my.plugin"])   # my/plugin.py defines register(registry)

A plugin module (named with `--plugin module.path`, or an entry point of the group
`longva.ablation` whose object is the function) exposes `register(registry)` and adds to it:

    def register(registry):
        registry.add_knob(Knob(id="my.knob", ...))

        @registry.recogniser("my.knob", "my.knob.words")
        def _words(item, ctx): ...
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from longva.ablation.errors import CompileError, UnknownMetricError
from longva.ablation.knobs import Knob, Recogniser, StageQualifier

# ---- metric_registry ------------------------------------------------------------------------------
# The metric registry: a plan's metric names -> canonical ids, params, availability, evaluator.
#
# One registry holds what a metric is called (aliases), what kind it is, whether it can be computed
# here and how (its evaluator); the recipe's adapter registers its metrics, plugins add more.
#
# Kinds of metric:
# - `evaluator`: computed by the recipe's own code (always available);
# - `measurement`: measured while training/evaluating (loss, throughput, memory, time); every run
#   records all of them (they are cheap), tables show the ones a plan lists;
# - `external`: a benchmark that needs its dataset, looked for at `$LONGVA_DATA_DIR/<dataset>`
#   (default `./data/<dataset>`; `check` decides whether a copy there is usable) or run through
#   lmms-eval when the spec names a task. Without it the report says `not available: needs dataset
#   ...` instead of a number, and a declared `proxy` (a local stand-in, always labelled as one) is
#   reported next to it; with it, the spec's evaluator computes the number;
# - `undefined`: named in a paper but not reproducible without a definition we have not verified.
#
# An evaluator is `evaluate(run, params) -> {"value": float | None, ...}` where `run` is the
# target's run handle; a value dict may carry `by_stage` (per-stage measurements: the report picks
# the stage an entry ablates), `why` (stage -> the reason a value is None) and details.
#
# Name normalisation (for lookup only; the plan's name is kept for display): lowercase, Unicode
# dashes unified, qualifiers parsed into params (`w/o subs` -> subtitles=False, `(long)` ->
# subset=long, `@128 frames` -> frames=128), then compared with spaces, `-`, `_` and `.` removed;
# trailing generic words (accuracy, performance, score, ...) are dropped only when what remains is
# a known alias.


DATA_DIR_ENV = "LONGVA_DATA_DIR"
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]")
_GENERIC_TAIL = re.compile(r"(?:\s|-|_)*(?:\(%\)|%|accuracy|acc|performance|score|scores|results?|metric)$")


Evaluator = Callable[[Any, dict[str, Any]], dict[str, Any]]  # (run handle, params) -> value dict


@dataclass(frozen=True)
class MetricSpec:
    id: str
    aliases: tuple[str, ...]
    kind: str  # evaluator | measurement | external | undefined
    summary: str
    dataset: str | None = None  # folder name under LONGVA_DATA_DIR
    lmms_eval_task: str | None = None
    proxy: str | None = None  # a local proxy reported alongside when the dataset is absent
    defaults: dict[str, Any] = field(default_factory=dict)
    evaluate: Evaluator | None = None  # how a run computes it (None: reported as a status)
    check: Callable[[Path], bool] | None = None  # is the dataset folder a usable copy (default: not empty)
    header: str | None = None  # column header (default: the plan's name)
    fmt: str = ".3f"
    per_stage: bool = False  # a training measurement read at the stage an entry ablates
    higher_is_better: bool | None = None  # the direction of a verdict (None: no verdict)


@dataclass(frozen=True)
class ResolvedMetric:
    name: str  # as written in the plan
    id: str | None
    kind: str | None
    params: dict[str, Any]
    status: str  # "available: ..." | "not available: ..." | "n/a: unknown metric"
    proxy: str | None = None  # reported alongside because this one is not available

    @property
    def key(self) -> str:
        """Where a run record keeps its value: the id, with its params when it has any."""
        return self.label() if self.params else (self.id or self.name)

    @property
    def available(self) -> bool:
        return self.status.startswith("available")

    def label(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.id}({params})" if self.id and params else (self.id or self.name)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "id": self.id, "kind": self.kind, "params": self.params,
               "status": self.status}
        if self.proxy:
            out["reported_alongside"] = f"{self.proxy} (synthetic proxy; not {self.id})"
        return out


def _key(text: str) -> str:
    return re.sub(r"[\s\-_.]", "", text.lower())


class MetricRegistry:
    def __init__(self, specs: Iterable[MetricSpec] = ()):
        self.specs: dict[str, MetricSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: MetricSpec, replace: bool = False) -> MetricSpec:
        if spec.id in self.specs and not replace:
            raise ValueError(f"metric {spec.id!r} is already registered")
        self.specs[spec.id] = spec
        for alias in (spec.id, *spec.aliases):
            self._aliases[_key(alias)] = spec.id
        return spec

    def lookup(self, name: str) -> tuple[MetricSpec, dict[str, Any]] | None:
        """(spec, params) for a metric name, or None when unknown."""
        text, params = _qualifiers(_DASHES.sub("-", name.strip().lower()))
        key = _key(text)
        while key:
            if key in self._aliases:
                spec = self.specs[self._aliases[key]]
                return spec, {**spec.defaults, **params}
            trimmed = _GENERIC_TAIL.sub("", text).strip()
            if trimmed == text:
                return None
            text, key = trimmed, _key(trimmed)
        return None

    def spec(self, metric_id: str | None) -> MetricSpec | None:
        return self.specs.get(metric_id) if metric_id else None

    def evaluator(self, metric_id: str | None) -> Evaluator | None:
        spec = self.spec(metric_id)
        return spec.evaluate if spec else None

    def resolve(self, name: str, data_dir: str | Path | None = None,
                skip_unknown: bool = False) -> ResolvedMetric:
        found = self.lookup(name)
        if found is None:
            if skip_unknown:
                return ResolvedMetric(name, None, None, {}, "n/a: unknown metric")
            raise UnknownMetricError(f"unknown metric {name!r}; closest: {', '.join(self.closest(name))};"
                                     f" known: {', '.join(sorted(self.specs))} (or --skip-unknown-metrics)")
        spec, params = found
        status = _status(spec, data_dir)
        proxy = None if status.startswith("available") else spec.proxy  # a fallback, not a companion
        return ResolvedMetric(name, spec.id, spec.kind, params, status, proxy)

    def closest(self, name: str, n: int = 3) -> list[str]:
        key = _key(name)
        ranked = difflib.get_close_matches(key, list(self._aliases), n=n * 3, cutoff=0.0)
        out: list[str] = []
        for alias in ranked:
            if self._aliases[alias] not in out:
                out.append(self._aliases[alias])
        return out[:n]


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or "data")


def _status(spec: MetricSpec, explicit_dir: str | Path | None) -> str:
    if spec.kind == "evaluator":
        return "available: built-in evaluator on synthetic data"
    if spec.kind == "measurement":
        return "available: measured by the runner"
    if spec.kind == "undefined":
        return f"not available: {spec.summary}"
    path = data_dir(explicit_dir) / (spec.dataset or spec.id)
    usable = spec.check(path) if spec.check else (path.is_dir() and any(path.iterdir()))
    if usable:
        return f"available: dataset at {path}"
    via = f" (or lmms-eval task {spec.lmms_eval_task!r})" if spec.lmms_eval_task else ""
    return f"not available: needs dataset {spec.dataset or spec.id} at {path}{via}; set {DATA_DIR_ENV}"


_QUALIFIERS = (
    (re.compile(r"\b(?:w/o|without|no) (?:subs|subtitles?)\b"), "subtitles", False),
    (re.compile(r"\b(?:w/|with) (?:subs|subtitles?)\b"), "subtitles", True),
)
_UNIT = re.compile(r"\((?:s|ms|sec|seconds|min|h|hours|mm|cm|%|x|gb|mb)\)")
_SUBSET = re.compile(r"\(?\b(short|medium|long|overall)\b(?: (?:subset|videos?|split))?\)?")
_FRAMES = re.compile(r"@\s*(\d+)\s*(?:frames?|f)?\b|\b(\d+)\s*frames?\b")


def _qualifiers(text: str) -> tuple[str, dict[str, Any]]:
    """Strip units and qualifiers (into params: subtitles, subset, frames)."""
    params: dict[str, Any] = {}
    text = _UNIT.sub(" ", text)  # units say how a number is written, not which metric it is
    for pattern, key, value in _QUALIFIERS:
        if pattern.search(text):
            params[key] = value
            text = pattern.sub(" ", text)
    if m := _FRAMES.search(text):
        params["frames"] = int(m.group(1) or m.group(2))
        text = _FRAMES.sub(" ", text)
    if (m := _SUBSET.search(text)) and _SUBSET.sub(" ", text).strip():
        params["subset"] = m.group(1)
        text = _SUBSET.sub(" ", text)
    text = re.sub(r"\(\s*\)", " ", text)
    return " ".join(text.split()), params


def external(mid: str, aliases: tuple[str, ...], summary: str, task: str | None = None, **kw: Any) -> MetricSpec:
    """A benchmark read from `$LONGVA_DATA_DIR/<mid>` (an lmms-eval task name when it has one)."""
    return MetricSpec(mid, aliases, "external", summary, dataset=mid, lmms_eval_task=task, **kw)


# ---- registry ----------------------------------------------------------------------------------


PLUGIN_GROUP = "longva.ablation"


@dataclass
class Registry:
    knobs: dict[str, Knob] = field(default_factory=dict)
    recognisers: dict[str, list[tuple[str, Recogniser]]] = field(default_factory=dict)
    stage_qualifiers: list[StageQualifier] = field(default_factory=list)
    metrics: MetricRegistry = field(default_factory=MetricRegistry)
    target: Any = None  # a `target.Target`: what plans compile against and run on

    # ---- knobs and recognisers ---------------------------------------------------------------------

    def add_knob(self, knob: Knob, replace: bool = False) -> Knob:
        if knob.id in self.knobs and not replace:
            raise CompileError(f"knob {knob.id!r} is already registered; pass replace=True to override it")
        self.knobs[knob.id] = knob
        return knob

    def add_recogniser(self, knob_id: str, name: str, fn: Recogniser, first: bool = False) -> Recogniser:
        chain = self.recognisers.setdefault(knob_id, [])
        chain[:] = [(n, f) for n, f in chain if n != name]  # re-registering replaces
        chain.insert(0 if first else len(chain), (name, fn))
        return fn

    def recogniser(self, knob_id: str, name: str, first: bool = False) -> Callable[[Recogniser], Recogniser]:
        """Decorator form of `add_recogniser`; recognisers run in registration order."""
        return lambda fn: self.add_recogniser(knob_id, name, fn, first=first)

    def add_stage_qualifiers(self, qualifiers: Iterable[StageQualifier]) -> None:
        """Phrases that name a stage in a part text; checked in order, the first match wins."""
        self.stage_qualifiers.extend(qualifiers)

    def knob(self, knob_id: str) -> Knob:
        if knob_id not in self.knobs:
            near = difflib.get_close_matches(knob_id, list(self.knobs), n=3, cutoff=0.4)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise CompileError(f"unknown knob {knob_id!r}{hint}; known: {', '.join(sorted(self.knobs))}")
        return self.knobs[knob_id]

    def chain(self, knob_id: str) -> list[tuple[str, Recogniser]]:
        return list(self.recognisers.get(knob_id, []))

    # ---- metrics and the target --------------------------------------------------------------------

    def add_metric(self, spec: MetricSpec, replace: bool = False) -> MetricSpec:
        return self.metrics.register(spec, replace=replace)

    def set_target(self, target: Any) -> None:
        self.target = target


def load_plugins(registry: Registry, modules: Iterable[str] = ()) -> list[str]:
    """Call `register(registry)` of every plugin: entry points of `longva.ablation`, then `modules`."""
    loaded = []
    for ep in entry_points(group=PLUGIN_GROUP):
        obj = ep.load()  # `module:register`, or a module that defines register
        _call_register(obj if callable(obj) else getattr(obj, "register", None), ep.value, registry)
        loaded.append(ep.value)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise CompileError(f"--plugin {name!r} cannot be imported: {e}") from None
        _call_register(getattr(module, "register", None), name, registry)
        loaded.append(name)
    return loaded


def _call_register(fn: Any, name: str, registry: Registry) -> None:
    if not callable(fn):
        raise CompileError(f"plugin {name!r} has no register(registry) function; define one that adds its"
                           " knobs and metrics to the registry it is given")
    fn(registry)
