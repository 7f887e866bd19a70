"""Typed, bounded numbers: command-line options, config values and grid specs.

Python's `float()` takes "nan", "inf" and "1e12", and `int` has no upper end, so every number a
user gives goes through one of these before any work:

- `bounded(value, what, ...)`: a finite number inside its range, else a one-line error;
- `number_list(spec, ...)`: `start:stop:step` (stop included when on the step) or a comma list,
  finite, bounded, non-empty, and at most `max_items` values, counted before any list is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from longva.errors import InputError

MAX_LIST_ITEMS = 10_000  # values in one grid axis or list: far above any real sweep


@dataclass(frozen=True)
class Bounds:
    """A closed or open interval; `integer` values must be whole numbers."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_show(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_show(self.hi)}")
        return f"{kind} {' and '.join(parts)}".strip()

    def holds(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))


POSITIVE_INT = Bounds(lo=1, integer=True)
NON_NEGATIVE_INT = Bounds(lo=0, integer=True)
POSITIVE = Bounds(lo=0, lo_open=True)
NON_NEGATIVE = Bounds(lo=0)
FRACTION = Bounds(lo=0, hi=1)  # [0, 1]
PROBABILITY = Bounds(lo=0, hi=1, lo_open=True)  # (0, 1]


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def parse_number(text: str | float | int, what: str, bounds: Bounds = Bounds(), error=InputError) -> float | int:
    """`text` (a string or a number) as a bounded finite number (an int when `bounds.integer`)."""
    expected = bounds.describe()
    if isinstance(text, bool):
        raise error(f"{what} {text!r}: expected {expected}")
    try:
        x = float(text.strip()) if isinstance(text, str) else float(text)
    except (ValueError, OverflowError):
        raise error(f"{what} {text!r} is not a number; expected {expected}") from None
    if not math.isfinite(x):
        raise error(f"{what} {text!r} is not finite; expected {expected}")
    if bounds.integer:
        if not x.is_integer():
            raise error(f"{what} {text!r} is not a whole number; expected {expected}")
        x = int(text.strip()) if isinstance(text, str) and text.strip().lstrip("+-").isdigit() else int(x)
    if not bounds.holds(x):
        raise error(f"{what} {text!r} is out of range; expected {expected}")
    return x


def bounded(value, what: str, bounds: Bounds, error=InputError):
    """A value already typed (int/float/None) checked against `bounds`; None passes."""
    if value is None:
        return None
    return parse_number(value, what, bounds, error)


def number_list(
    spec: str,
    what: str,
    bounds: Bounds,
    max_items: int = MAX_LIST_ITEMS,
    round_to: int | None = None,
) -> list:
    """'start:stop:step' or 'a,b,c' (or one value) -> the values, checked; never empty."""
    spec = (spec or "").strip()
    form = "start:stop:step or a comma list"
    if not spec:
        raise InputError(f"{what} '' is empty; expected {form} of {bounds.describe()}s")
    if ":" in spec:
        return _range(spec, what, bounds, max_items, round_to, form)
    items = [s.strip() for s in spec.split(",")]
    if len(items) > max_items:
        raise InputError(f"{what} lists {len(items)} values; expected at most {max_items:,}")
    values = [_item(s, what, spec, bounds, form) for s in items]
    return [round(v, round_to) for v in values] if round_to is not None else values


def _item(text: str, what: str, spec: str, bounds: Bounds, form: str):
    if not text:
        raise InputError(f"{what} {spec!r} has an empty item; expected {form} of {bounds.describe()}s")
    try:
        return parse_number(text, what, bounds)
    except InputError as e:
        raise InputError(f"{what} {spec!r}: {str(e).removeprefix(what + ' ')}") from None


def _range(spec: str, what: str, bounds: Bounds, max_items: int, round_to: int | None, form: str) -> list:
    parts = spec.split(":")
    if len(parts) != 3:
        raise InputError(f"{what} {spec!r} has {len(parts)} ':'-separated fields; expected start:stop:step")
    step_bounds = Bounds(lo=0, lo_open=True, integer=bounds.integer)
    start, stop = (_item(p.strip(), what, spec, bounds, form) for p in parts[:2])
    step = _item(parts[2].strip(), f"{what} step", spec, step_bounds, form)
    if start > stop:
        raise InputError(
            f"{what} {spec!r}: start {start} is greater than stop {stop}; expected start <= stop"
            f" (e.g. {stop}:{start}:{step})"
        )
    eps = 0 if bounds.integer else 1e-9  # 0:1:0.1 reaches 1 despite float noise
    count = math.floor((stop - start) / step + eps) + 1
    if count > max_items:
        raise InputError(f"{what} {spec!r} makes {count:,} values; expected at most {max_items:,}")
    values = [start + i * step for i in range(count)]
    return [round(v, round_to) for v in values] if round_to is not None else values
