"""The reproduction's acceptance checks: what the LongVA finding means in numbers.

Each check reads one seed's results (`per_seed`); its verdict over seeds (`overall`) is either
"every seed passes" or a rule on the mean over seeds:

- longva reads long videos: average V-NIAH >= 0.90 on every seed and >= 0.95 on the mean, and
  >= 0.90 on every seed beyond 4x the S0 context;
- the short LM does not: <= 0.40 beyond its context on every seed;
- training-free extrapolation helps only modestly: the best-θ RoPE baseline stays >= 0.20 below
  longva beyond 4x the S0 context, on the mean over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from longva.utils.stats import mean_ci


@dataclass(frozen=True)
class Check:
    name: str
    text: str  # what it asks, for tables
    value: Callable[[dict], float | None]  # one seed's results -> the number checked
    passes: Callable[[float], bool]
    rule: str  # "every": every seed passes; "mean": the mean over seeds passes


def _model(name: str, key: str | None = None) -> Callable[[dict], float | None]:
    def read(results: dict) -> float | None:
        model = results["models"].get(name)
        if model is None:
            return None
        return model["average"] if key is None else model["buckets"][key]

    return read


def _rope_gap(results: dict) -> float | None:
    long, rope = (
        _model("longva", "beyond_4x_s0_context")(results),
        _model("short_lm_rope", "beyond_4x_s0_context")(results),
    )
    return None if long is None or rope is None else long - rope


CHECKS = (
    Check("longva_average", "longva average ≥ 0.90, every seed", _model("longva"), lambda v: v >= 0.90, "every"),
    Check("longva_mean", "longva average ≥ 0.95, mean over seeds", _model("longva"), lambda v: v >= 0.95, "mean"),
    Check(
        "longva_beyond_4x",
        "longva > 4× S0 ctx ≥ 0.90, every seed",
        _model("longva", "beyond_4x_s0_context"),
        lambda v: v >= 0.90,
        "every",
    ),
    Check(
        "short_lm_beyond",
        "short_lm > S0 ctx ≤ 0.40, every seed",
        _model("short_lm", "beyond_s0_context"),
        lambda v: v <= 0.40,
        "every",
    ),
    Check(
        "rope_gap_beyond_4x",
        "longva − short_lm_rope (best θ) > 4× S0 ctx ≥ 0.20, mean over seeds",
        _rope_gap,
        lambda v: v >= 0.20,
        "mean",
    ),
)


def seed_checks(results: dict) -> dict:
    """One seed's verdicts: check name -> {"value", "ok"} (checks whose models are absent are left out)."""
    out = {}
    for check in CHECKS:
        value = check.value(results)
        if value is not None:
            out[check.name] = {"text": check.text, "value": value, "ok": bool(check.passes(value))}
    return out


def overall_checks(per_seed: dict[int, dict]) -> dict:
    """Verdicts over seeds: every seed's value, the mean with its 95% interval, and ok."""
    out = {}
    for check in CHECKS:
        values = {s: check.value(r) for s, r in per_seed.items()}
        values = {s: v for s, v in values.items() if v is not None}
        if not values:
            continue
        stats = mean_ci(list(values.values()))
        ok = all(check.passes(v) for v in values.values()) if check.rule == "every" else check.passes(stats.mean)
        out[check.name] = {
            "text": check.text,
            "rule": check.rule,
            "per_seed": values,
            **stats.to_json(),
            "ok": bool(ok),
        }
    return out
