"""Paired comparison cells: per-seed differences variant − baseline, a 95% t-interval and a verdict."""

from __future__ import annotations

import statistics

import pytest

from longva.ablation.result_tables import NOT_RESOLVED, Column, cell, metric_value, paired_columns
from longva.utils.stats import t975


def records(name: str, values: list[float | None]) -> list[dict]:
    return [{"id": f"{name}-seed{i}", "metrics": {"acc": {"value": v}}} for i, v in enumerate(values)]


def paired(values: list[float | None], base: list[float | None], higher_is_better: bool | None = True):
    number = Column("acc", "acc", "number", metric_value("acc"), higher_is_better=higher_is_better)
    delta, verdict = paired_columns([number])
    rows, base_rows = records("variant", values), records("base", base)
    return cell(delta, rows, base_rows), cell(verdict, rows, base_rows)


def test_the_interval_is_the_paired_t_interval_of_the_differences():
    delta, verdict = paired([0.62, 0.55, 0.71, 0.60], [0.50, 0.46, 0.58, 0.47])
    assert delta["values"] == pytest.approx([0.12, 0.09, 0.13, 0.13]) and delta["n"] == 4
    diffs = delta["values"]
    mean, half = statistics.fmean(diffs), t975(3) * statistics.stdev(diffs) / 2
    assert delta["mean"] == pytest.approx(mean)
    assert delta["ci95"] == pytest.approx([mean - half, mean + half])
    assert delta["display"] == f"{mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}]"
    assert verdict["display"] == verdict["verdict"] == "better"


def test_pairing_removes_what_the_seeds_share():
    """Seed-to-seed spread far larger than the effect: unpaired means overlap, paired differences do not."""
    base = [0.20, 0.80, 0.45, 0.60]
    delta, verdict = paired([b + 0.05 for b in base], base)
    assert delta["ci95"][0] > 0 and verdict["verdict"] == "better"


@pytest.mark.parametrize("values, base, higher, expected", [
    ([0.40, 0.42, 0.39], [0.50, 0.51, 0.50], True, "worse"),
    ([0.60, 0.40, 0.55], [0.50, 0.50, 0.50], True, NOT_RESOLVED),  # the interval holds 0
    ([0.55], [0.50], True, NOT_RESOLVED),  # one seed: no interval at all
    ([1.2, 1.3, 1.25], [1.0, 1.1, 1.0], False, "worse"),  # a loss that went up
    ([1.2, 1.3, 1.25], [1.0, 1.1, 1.0], None, "higher"),  # no declared direction
])
def test_verdicts(values, base, higher, expected):
    assert paired(values, base, higher)[1]["verdict"] == expected


def test_one_seed_shows_the_difference_without_an_interval():
    delta, _ = paired([0.55], [0.50])
    assert delta["display"] == "+0.050" and delta["ci95"] is None


def test_the_baseline_row_and_missing_values():
    number = Column("acc", "acc", "number", metric_value("acc"), higher_is_better=True)
    delta, verdict = paired_columns([number])
    base = records("base", [0.5, 0.6])
    assert cell(delta, base, base)["display"] == "—" and cell(verdict, base, base)["display"] == "—"
    partial, _ = paired([0.7, None, 0.9], [0.5, 0.6, 0.6])
    assert partial["values"] == pytest.approx([0.2, 0.3]) and partial["n"] == 2  # seed 1 has no pair
