"""The base recipe as the compiler sees it: dotted config paths, their values and their stage.

The base is a `longva.recipes.config.RecipeConfig` (its defaults, `quick_config()`, or a recipe
file). Every override goes through `set_path`, so values are typed and validated like any
`--set`, and unknown paths fail with the close names. A path must already exist, even inside a
free-form mapping such as `model.lm.hf_config`, so a typo is never silently added.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from longva.errors import ConfigError
from longva.model.config import LongVAConfig
from longva.recipes.config import STAGES
from longva.utils.dataclass_config import get_path, load_config, set_path, to_dict

# STAGES (re-exported): execution order; a change re-runs its stage and every stage after it.
__all__ = ["STAGES", "RecipeView", "stage_of", "stages_from"]

ABLATION_IMAGE_SIZE = 48  # 48 px / patch 8 = a 6x6 patch map


def ablation_base(recipe: Any) -> Any:
    """`recipe` with the 48 px tower, at the recipe's own visual-token lengths.

    48 px gives 9 tokens per grid instead of 4, so the alignment images' grid caps and the V-NIAH
    frame counts are scaled by 4/9: the base aligns on images of <= 126 tokens (recipe: 128) and
    is tested on haystacks of 72..1,800 tokens (recipe: 68..1,796). Kept at 32 grids and 448
    frames (288-token images, 4k-token haystacks), the base reached V-NIAH 0.59, failing even
    inside the S0 context; scaled it reads 1.0 there."""
    from longva.ablation.tokens import budget
    from longva.ablation.vniah_grid import iso_token_frames

    ours = budget(RecipeView(recipe, "recipe"))["facts"]["tokens_per_frame"]
    config = set_path(recipe, "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
    theirs = budget(RecipeView(config, "ablation"))["facts"]["tokens_per_frame"]
    align = recipe.stages.s2_align
    for path, grids in (("max_grids", align.max_grids), ("easy_max_grids", align.easy_max_grids)):
        scaled = iso_token_frames([grids], ours, theirs)[0]  # the same iso-token rounding as the frames
        config = set_path(config, f"stages.s2_align.{path}", max(align.min_grids, scaled))
    return set_path(config, "eval.vniah.frames", iso_token_frames(recipe.eval.vniah.frames, ours, theirs))


class RecipeView:
    """Immutable view of one recipe configuration (the base, or the base plus overrides)."""

    def __init__(self, config: Any, origin: str):
        self._config = config  # a RecipeConfig (any dataclass tree with a `model: LongVAConfig`)
        self._tree = to_dict(config)
        self.origin = origin

    @classmethod
    def default(cls, quick: bool = False) -> RecipeView:
        from longva.recipes.config import RecipeConfig, quick_config

        # The recipe's 32 px tower gives a 4x4 patch map, on which pooling kernels 3 and 5 (the
        # kernels LongVA's plans ablate) would collapse or not fit: ablations run at 48 px (6x6).
        if quick:
            config = set_path(quick_config(), "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
            return cls(config, origin=f"quick_config(), tower at {ABLATION_IMAGE_SIZE} px")
        return cls(ablation_base(RecipeConfig()), origin=f"RecipeConfig() defaults, tower at {ABLATION_IMAGE_SIZE} px"
                                                         " at the recipe's visual-token lengths")

    @classmethod
    def from_file(cls, path: str | Path) -> RecipeView:
        from longva.recipes.config import RecipeConfig

        return cls(load_config(RecipeConfig, path), origin=str(path))

    # -- reading ---------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        """Value at `path`; unknown paths raise ConfigError listing close names."""
        return get_path(self._config, path)

    def has(self, path: str) -> bool:
        try:
            self.get(path)
        except ConfigError:
            return False
        return True

    def model_config(self) -> LongVAConfig:
        return self._config.model

    @property
    def config(self) -> Any:
        """The configuration itself (a RecipeConfig); treat it as read-only, change it with `apply`."""
        return self._config

    # -- writing ---------------------------------------------------------------------------
    def apply(self, overrides: Mapping[str, Any]) -> RecipeView:
        """A new view with `overrides` (dotted path -> value) applied, checked and validated."""
        config = self._config
        for path, value in overrides.items():
            self.get(path)  # existing paths only: a typo in a free-form mapping is still an error
            config = set_path(config, path, value)
        return RecipeView(config, self.origin)

    # -- identity --------------------------------------------------------------------------
    def config_hash(self) -> str:
        """Content hash of the configuration (equivalent spellings hash the same)."""
        canonical = _canonical(self._tree)
        blob = json.dumps(canonical, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def stage_of(path: str) -> str:
    """Earliest stage a config path affects (the model's LM is built in the text stage)."""
    head, _, rest = path.partition(".")
    if head == "stages":
        stage = rest.split(".", 1)[0]
        return stage if stage in STAGES else STAGES[0]
    if head == "eval":
        return "eval"
    if path.startswith("model.") and not path.startswith("model.lm."):
        return "s2_align"  # vision tower, projector, pooling, encoding enter at alignment
    return STAGES[0]  # LM architecture, seed and anything unknown: everything re-runs


def stages_from(stage: str) -> list[str]:
    return list(STAGES[STAGES.index(stage):])


def _canonical(tree: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(tree))
    pooling = out.get("model", {}).get("pooling")
    if isinstance(pooling, dict) and pooling.get("stride") is None:
        pooling["stride"] = pooling.get("kernel")  # stride None means stride = kernel
    return out
