"""Fixtures of the ablation tests (paths and helpers live in `ablation_fixtures.py`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_7b():
    """The base recipe with LongVA-7B's vision grid (336 px / patch 14 = 24x24 -> 144 tokens/frame),
    whatever the toy recipe's own tower size is."""
    from longva.recipes.ablation.adapter import RecipeView

    return RecipeView.default().apply({
        "model.vision.hf_config.image_size": 336,
        "model.vision.hf_config.patch_size": 14,
        "model.pooling.kind": "avg",
        "model.pooling.kernel": 2,
        "model.pooling.stride": 2,
        "model.pooling.tokens_per_grid": None,
        "model.projector.type": "mlp2x_gelu",
    })
