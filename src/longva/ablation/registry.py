"""Registries of knobs and value recognisers, and how plugins extend them.

A plugin registers without touching the core:

    from longva.ablation.registry import register_knob, recogniser
    register_knob(Knob(id="my.knob", ...))

    @recogniser("my.knob", "my.knob.words")
    def _words(item, ctx): ...

Plugins are imported from the `longva.ablation` entry-point group or named with `--plugin
module.path` on the command line. The built-in LongVA knobs live in `longva_knobs.py` and
`longva_values.py` and are loaded on first use of the default registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from longva.ablation.errors import CompileError
from longva.ablation.knobs import Knob

if TYPE_CHECKING:
    from longva.ablation.recognisers import Recogniser


@dataclass
class KnobRegistry:
    knobs: dict[str, Knob] = field(default_factory=dict)
    recognisers: dict[str, list[tuple[str, Recogniser]]] = field(default_factory=dict)

    def add_knob(self, knob: Knob, replace: bool = False) -> Knob:
        if knob.id in self.knobs and not replace:
            raise CompileError(f"knob {knob.id!r} is already registered; pass replace=True to override it")
        self.knobs[knob.id] = knob
        return knob

    def add_recogniser(self, knob_id: str, name: str, fn: Recogniser, first: bool = False) -> None:
        chain = self.recognisers.setdefault(knob_id, [])
        chain[:] = [(n, f) for n, f in chain if n != name]  # re-registering replaces
        if first:
            chain.insert(0, (name, fn))
        else:
            chain.append((name, fn))

    def knob(self, knob_id: str) -> Knob:
        if knob_id not in self.knobs:
            import difflib

            near = difflib.get_close_matches(knob_id, list(self.knobs), n=3, cutoff=0.4)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise CompileError(f"unknown knob {knob_id!r}{hint}; known: {', '.join(sorted(self.knobs))}")
        return self.knobs[knob_id]

    def chain(self, knob_id: str) -> list[tuple[str, Recogniser]]:
        return list(self.recognisers.get(knob_id, []))

    def copy(self) -> KnobRegistry:
        return KnobRegistry(dict(self.knobs), {k: list(v) for k, v in self.recognisers.items()})


_DEFAULT = KnobRegistry()
_BUILTINS_LOADED = False


def default_registry() -> KnobRegistry:
    """The process-wide registry, with the built-in LongVA knobs loaded."""
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("longva.ablation.longva_knobs")
        importlib.import_module("longva.ablation.longva_values")
    return _DEFAULT


def register_knob(knob: Knob, replace: bool = False, registry: KnobRegistry | None = None) -> Knob:
    return (registry or _DEFAULT).add_knob(knob, replace=replace)


def register_recogniser(knob_id: str, name: str, fn: Recogniser, first: bool = False,
                        registry: KnobRegistry | None = None) -> Recogniser:
    (registry or _DEFAULT).add_recogniser(knob_id, name, fn, first=first)
    return fn


def recogniser(knob_id: str, name: str, first: bool = False,
               registry: KnobRegistry | None = None) -> Callable[[Recogniser], Recogniser]:
    """Decorator form of `register_recogniser`; recognisers run in registration order."""

    def add(fn: Recogniser) -> Recogniser:
        return register_recogniser(knob_id, name, fn, first=first, registry=registry)

    return add


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Import plugin modules (entry-point group `longva.ablation` + `modules`); returns their names."""
    default_registry()
    loaded = []
    for ep in entry_points(group="longva.ablation"):
        ep.load()
        loaded.append(ep.value)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise CompileError(f"--plugin {name!r} cannot be imported: {e}") from None
        loaded.append(name)
    return loaded
