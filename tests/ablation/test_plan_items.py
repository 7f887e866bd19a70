"""Item normalisation: numbers, assignments, default markers, literals, sweeps."""

from __future__ import annotations

import pytest

from longva.ablation.items import entry_items, make_item, parse_assignments, parse_number
from longva.ablation.parse import parse_plan
from longva.ablation.plan import split_metrics


@pytest.mark.parametrize("text, value", [
    ("256", (256, None)), ("1e-4", (1e-4, None)), ("1,000", (1000, None)), ("10^9", (10**9, None)),
    ("224K", (224000, None)), ("3M", (3_000_000, None)), ("150 samples", (150, "samples")),
    ("64 frames", (64, "frames")), ("10%", (10, "%")), ("2-layer MLP", None), ("max pooling", None),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text, value", [
    ("K=5", {"K": 5}), ("τ = 0.1", {"τ": 0.1}), ("λ_RGB=5,λ_depth=15", {"λ_RGB": 5, "λ_depth": 15}),
    ("frames=[8, 16], mode=exact", {"frames": [8, 16], "mode": "exact"}),
    ("a<=b", None), ("x == y", None), ("max pooling", None), ("kernel=3, and more", None),
])
def test_parse_assignments(text, value):
    assert parse_assignments(text) == value


def test_default_marker_and_inline_override():
    item = make_item("2-layer MLP (default)")
    assert item.default_marked and item.text == "2-layer mlp"
    item = make_item("max pooling {{model.pooling.kind=max}}")
    assert item.inline == {"model.pooling.kind": "max"} and item.text == "max pooling"


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "3D Detection (3D Moderate, BEV Moderate), Inference Time",
            ["3D Detection (3D Moderate, BEV Moderate)", "Inference Time"],
        ),
        ("Success, %", ["Success, %"]),
        ("PSNR, SSIM, PSNR", ["PSNR", "SSIM"]),
        ("latency (s), accuracy (%)", ["latency (s)", "accuracy (%)"]),
    ],
)
def test_split_metrics(line, expected):
    assert split_metrics(line) == expected


def test_dict_replacement_expands_to_one_factor_items():
    plan = parse_plan("### A\n- **Ablated Part**: x\n- **Action**: REPLACE\n- **Replacement**: \n"
                      "  - AMIS iteration count T: [1, 4, 8]\n  - Samples per iteration K': [32, 64, 128]\n"
                      "- **Metrics**: PSNR\n")
    items = entry_items(plan.entries[0])
    assert [i.label for i in items] == [
        "AMIS iteration count T=1",
        "AMIS iteration count T=4",
        "AMIS iteration count T=8",
        "Samples per iteration K'=32",
        "Samples per iteration K'=64",
        "Samples per iteration K'=128",
    ]
    assert items[0].value == {"AMIS iteration count T": 1}
    assert [i.line for i in items] == [5, 5, 5, 6, 6, 6]
