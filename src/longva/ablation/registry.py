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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from longva.ablation.errors import CompileError
from longva.ablation.knobs import Knob, StageQualifier
from longva.ablation.metric_registry import MetricRegistry, MetricSpec
from longva.ablation.recognisers import Recogniser

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
