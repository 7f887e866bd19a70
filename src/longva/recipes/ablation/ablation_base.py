"""The base recipe ablations run on: the toy LongVA recipe with a 48 px tower.

The recipe's 32 px tower gives a 4x4 patch map, on which pooling kernels 3 and 5 (the kernels
LongVA's plans ablate) would collapse or not fit: ablations run at 48 px (6x6 patches, 9 tokens
per frame), with the alignment images' grid caps and the V-NIAH frame counts scaled by 4/9 so the
visual-token lengths stay the recipe's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longva.ablation.target import ConfigView
from longva.model.config import LongVAConfig
from longva.recipes.ablation.visual_tokens import FRAMES_PATH, iso_token_frames, tokens_per_frame
from longva.recipes.config import RecipeConfig, quick_config
from longva.utils.dataclass_config import load_config, set_path

ABLATION_IMAGE_SIZE = 48  # 48 px / patch 8 = a 6x6 patch map


class RecipeView(ConfigView):
    """A `RecipeConfig` as the ablation compiler sees it."""

    @classmethod
    def default(cls, quick: bool = False) -> RecipeView:
        if quick:
            config = set_path(quick_config(), "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
            return cls(config, origin=f"quick_config(), tower at {ABLATION_IMAGE_SIZE} px")
        return cls(ablation_base(RecipeConfig()), origin=f"RecipeConfig() defaults, tower at {ABLATION_IMAGE_SIZE} px"
                                                         " at the recipe's visual-token lengths")

    @classmethod
    def from_file(cls, path: str | Path) -> RecipeView:
        return cls(load_config(RecipeConfig, path), origin=str(path))

    def model_config(self) -> LongVAConfig:
        return self.config.model

    def canonical(self, tree: dict[str, Any]) -> dict[str, Any]:
        pooling = tree.get("model", {}).get("pooling")
        if isinstance(pooling, dict) and pooling.get("stride") is None:
            pooling["stride"] = pooling.get("kernel")  # stride None means stride = kernel
        return tree


def ablation_base(recipe: RecipeConfig) -> RecipeConfig:
    """`recipe` with the 48 px tower, at the recipe's own visual-token lengths.

    48 px gives 9 tokens per grid instead of 4, so the alignment images' grid caps and the V-NIAH
    frame counts are scaled by 4/9: the base aligns on images of <= 63 visual tokens (recipe:
    64) and is tested on haystacks of 72..1,800 tokens (recipe: 68..1,796). Kept at the
    recipe's grid and frame counts, its images would exceed the S0 context and its haystacks
    double in length (an earlier recipe's base reached V-NIAH 0.59 that way, failing even
    inside the S0 context)."""
    ours = tokens_per_frame(RecipeView(recipe, "recipe"))
    config = set_path(recipe, "model.vision.hf_config.image_size", ABLATION_IMAGE_SIZE)
    theirs = tokens_per_frame(RecipeView(config, "ablation"))
    align = recipe.stages.s2_align
    for path, grids in (("max_grids", align.max_grids), ("easy_max_grids", align.easy_max_grids)):
        scaled = iso_token_frames([grids], ours, theirs)[0]  # the same iso-token rounding as the frames
        config = set_path(config, f"stages.s2_align.{path}", max(align.min_grids, scaled))
    return set_path(config, FRAMES_PATH, iso_token_frames(recipe.eval.vniah.frames, ours, theirs))
