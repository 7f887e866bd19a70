"""Which stages a config change re-runs: the stage cache and the ablation compiler agree, path by path.

Every leaf of the recipe's config is changed, one at a time; the stages whose cache key changes
(`RecipeRunner(dry_run=True)` computes the keys without running anything) must be exactly
`stages_reading(path)`, and the ablation target must report the same stages (evaluations as one
`eval`). A path no stage reads (threads, baselines, the RoPE sweep) changes no key.
"""

from __future__ import annotations

import dataclasses

import pytest

from longva.errors import ConfigError
from longva.model.tower_presets import tower_like
from longva.recipes.ablation.recipe_target import RecipeTarget
from longva.recipes.config import RecipeConfig
from longva.recipes.stage_inputs import STAGE_INPUTS, STAGE_ORDER, stages_reading
from longva.recipes.stage_runner import RecipeRunner
from longva.utils.dataclass_config import get_path, set_path, to_dict


def stage_keys(cfg: RecipeConfig) -> dict[str, str]:
    """Cache key of every stage of the recipe (the S2 model from the S1 LM, as `longva reproduce`)."""
    runner = RecipeRunner(cfg, "unused-cache", log=lambda message: None, dry_run=True)
    tower, s0, lm = runner.v0_vision(), runner.s0_text(), runner.s1_long()
    model = runner.s2_align(lm)
    keys = {"s0_text": s0.key, "s1_long": lm.key, "s2_align": model.key, "eval_vniah": runner.vniah(model).key,
            "eval_text_niah": runner.text_niah(lm).key, "eval_video_qa_proxy": runner.video_qa_proxy(model).key}
    return keys | ({"v0_vision": tower.key} if tower else {})


def leaves(value, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf under `value` (dataclass fields and mapping keys)."""
    if dataclasses.is_dataclass(value):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        return [prefix]
    return [leaf for name, child in items for leaf in leaves(child, f"{prefix}.{name}" if prefix else name)]


# values for leaves whose generic change is invalid or that are None in the base
OTHER_VALUES = {
    "model.vision.hf_config.image_size": 48, "model.vision.hf_config.patch_size": 16,
    "model.vision.name_or_path": "some/tower", "model.vision.select_feature": "cls_patch",
    "model.vision.image_mean": (0.5, 0.5, 0.5), "model.vision.image_std": (0.5, 0.5, 0.5),
    "model.projector.num_heads": 2, "model.projector.num_queries": 8, "model.pooling.stride": 1,
    "model.pooling.tokens_per_grid": 2, "model.encoding.grid_pinpoints": [[32, 64]], "model.lm.rope_theta": 1e5,
    "model.template": "llama_3", "model.max_length": 4096, "eval.vniah.rope_theta": 1e6,
    "model.encoding.frame_mode": "crop", "model.visual_position": "after_text", "model.attention": "prefix_lm",
}


def _fused(cfg: RecipeConfig) -> RecipeConfig:
    """`model.vision.parts` only exists with type fused: change both at once."""
    return set_path(cfg, "model.vision", to_dict(tower_like("fused", cfg.model.vision)))


# leaves that can only change together with another one
OTHER_CHANGES = {"model.vision.parts": _fused}


def changed(cfg: RecipeConfig, path: str) -> RecipeConfig | None:
    """`cfg` with the value at `path` changed to another valid value (None when none is at hand)."""
    if path in OTHER_CHANGES:
        return OTHER_CHANGES[path](cfg)
    old = get_path(cfg, path)
    candidates = {bool: lambda v: [not v], int: lambda v: [v + 1, v - 1], float: lambda v: [v * 2 or 0.5, v / 2],
                  str: lambda v: [v + " x", "llama_3", "answer", "template", "anyres", "siglip", "max", "linear"],
                  list: lambda v: [v[:-1], v + v[-1:]] if v else [[128], ["s2_align"]],
                  type(None): lambda v: [0.5]}
    tried = [OTHER_VALUES[path]] if path in OTHER_VALUES else candidates.get(type(old), lambda v: [])(old)
    for new in tried:
        if new == old:
            continue
        try:
            return set_path(cfg, path, new)
        except (ConfigError, TypeError, ValueError):
            continue
    return None


def _eval_as_one(stages: list[str]) -> list[str]:
    return list(dict.fromkeys("eval" if s.startswith("eval_") else s for s in stages))


BASE = RecipeConfig()
BASE_KEYS = stage_keys(BASE)
PATHS = leaves(BASE)


def test_every_declared_input_is_a_real_path():
    for stage, declared in STAGE_INPUTS.items():
        for path in declared:
            get_path(BASE, path)  # raises on a path that does not exist
        assert stage in STAGE_ORDER


@pytest.mark.parametrize("path", PATHS)
def test_a_change_reruns_exactly_the_stages_that_read_it(path):
    cfg = changed(BASE, path)
    assert cfg is not None, f"no other valid value at hand for {path}: add one to OTHER_VALUES"
    keys = stage_keys(cfg)
    rerun = [s for s in STAGE_ORDER if keys.get(s) != BASE_KEYS.get(s)]
    assert rerun == stages_reading(path), path
    assert RecipeTarget().stages_rerun([path]) == _eval_as_one(rerun), path


def test_every_declared_input_has_a_leaf_that_is_changed():
    for declared in {p for paths in STAGE_INPUTS.values() for p in paths}:
        assert any(p == declared or p.startswith(declared + ".") for p in PATHS), declared


def test_the_tokenizers_inputs_rerun_everything_and_runtime_settings_nothing():
    assert stages_reading("model.template") == list(STAGE_ORDER)  # the tokenizer's corpus holds prompts
    assert RecipeTarget().stages_rerun(["model.template"]) == ["v0_vision", "s0_text", "s1_long", "s2_align", "eval"]
    assert RecipeTarget().stages_rerun(["model.vision.type"]) == ["v0_vision", "s2_align", "eval"]
    for path in ("threads", "baselines", "eval.rope_sweep_factors"):
        assert stages_reading(path) == [] and RecipeTarget().stages_rerun([path]) == []
