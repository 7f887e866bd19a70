"""Architecture knobs: tower and LM families, visual-token position, prefix-LM attention."""

from __future__ import annotations

import pytest
from ablation_fixtures import FIXTURES

from longva.ablation.parse import load_plan, parse_plan
from longva.model.config import LongVAConfig
from longva.recipes.ablation.adapter import RecipeView, compile_recipe_plan


def entry(name: str, part: str, items: list[str]) -> str:
    return (f"### {name}\n- **Ablated Part**: {part}\n- **Action**: REPLACE\n- **Replacement**: \n"
            + "".join(f"  - {i}\n" for i in items) + "- **Metrics**: V-NIAH accuracy\n\n")


@pytest.fixture(scope="module")
def compiled():
    text = (entry("Tower", "Vision encoder", ["ViT-B/16 tower", "DINOv2", "ResNet-50 backbone",
                                               "DINO-SigLIP fused", "ConvNeXt", "EVA-CLIP", "improved encoder"])
            + entry("LM", "Language model backbone", ["Mistral 7B", "Gemma", "Vicuna-7B", "LLaMA-2", "GPT-2"])
            + entry("Pos", "Position of image tokens in the prompt",
                    ["image tokens first", "text first", "interleaved", "alternative placement"])
            + entry("Attn", "Attention mask over the visual tokens",
                    ["PrefixLM", "bidirectional attention over image tokens", "causal"]))
    result = compile_recipe_plan(parse_plan(text, source="t.md"))
    return {(v.entry, v.item): v for v in result.variants}


@pytest.mark.parametrize("item, family", [("ViT-B/16 tower", "vit"), ("DINOv2", "dinov2"),
                                          ("ResNet-50 backbone", "resnet"), ("DINO-SigLIP fused", "fused"),
                                          ("ConvNeXt", "convnext")])
def test_tower_phrasings_compile_to_a_same_scale_tower(compiled, item, family):
    v = compiled["Tower", item]
    assert v.error is None, v.error
    vision = RecipeView.default().apply(v.overrides).config.model.vision
    base = RecipeView.default().config.model.vision
    assert vision.type == family and vision.grid_side == base.grid_side and vision.image_size == base.image_size
    assert set(v.overrides) == {"model.vision"}  # one section: a fused tower's parts come with its type
    assert any("v0_vision pretrains it contrastively" in n for n in v.notes)
    assert v.tokens_per_frame == 9 and v.stages == ["v0_vision", "s2_align", "eval"]
    if family == "fused":
        assert [p.type for p in vision.parts] == ["dinov2", "siglip"] and vision.hidden_size == 2 * base.hidden_size


@pytest.mark.parametrize("item, family", [("Mistral 7B", "mistral"), ("Gemma", "gemma"), ("Vicuna-7B", "llama")])
def test_lm_phrasings_compile(compiled, item, family):
    v = compiled["LM", item]
    assert v.error is None and v.overrides["model.lm.model_type"] == family
    assert v.stages[:2] == ["s0_text", "s1_long"]
    view = RecipeView.default().apply(v.overrides)
    if family == "gemma":  # Gemma's head_dim default (256) replaced by the base's head size
        hf = view.config.model.lm.hf_config
        assert hf["head_dim"] == hf["hidden_size"] // hf["num_attention_heads"]
    assert compiled["LM", "LLaMA-2"].error is None  # the llama family (deduplicated with Vicuna's)


def test_position_and_attention_phrasings_compile(compiled):
    expect = {("Pos", "text first"): ("model.visual_position", "after_text"),
              ("Pos", "interleaved"): ("model.visual_position", "interleaved"),
              ("Attn", "PrefixLM"): ("model.attention", "prefix_lm")}
    for key, (path, value) in expect.items():
        assert compiled[key].overrides == {path: value} and compiled[key].stages == ["s2_align", "eval"], key
    assert compiled["Pos", "image tokens first"].overrides == {"model.visual_position": "before_text"}
    assert compiled["Attn", "bidirectional attention over image tokens"].overrides == {"model.attention": "prefix_lm"}
    assert LongVAConfig().visual_position == "before_text" and LongVAConfig().attention == "causal"


@pytest.mark.parametrize("key, message", [
    (("Tower", "EVA-CLIP"), "vision tower 'EVA-CLIP' is not supported; known: clip, siglip, vit, dinov2"),
    (("Tower", "improved encoder"), "underspecified: say what differs"),
    (("LM", "GPT-2"), "LM family 'GPT-2' is not supported by the recipe; known: qwen2, llama"),
    (("Pos", "alternative placement"), "underspecified: say what differs"),
])
def test_vague_or_unknown_values_are_refused_with_what_is_missing(compiled, key, message):
    assert message in (compiled[key].error or ""), compiled[key].error


def test_a_plan_in_other_planners_words_compiles_and_vague_items_are_refused():
    """Phrasings of the kinds other planners used for VLM-architecture ablations (issue 13)."""
    result = compile_recipe_plan(load_plan(FIXTURES / "architecture_phrasings_plan.txt"))
    variants = [v for v in result.variants if v.entry != "Vague Ablation"]
    compiled = [v for v in variants if v.error is None]
    assert len(compiled) == len(variants) == 19  # every concrete phrasing compiles
    values = {v.item: next(iter(v.overrides.values())) for v in compiled if len(v.overrides) == 1}
    assert values["Vicuna"] == values["LLaMA-2 7B"] == "llama"
    assert values["images after the question"] == "after_text"
    assert values["PrefixLM (bidirectional attention over the image tokens)"] == "prefix_lm"
    vague = [v for v in result.variants if v.entry == "Vague Ablation"]
    assert len(vague) == 2 and all("underspecified: say what differs" in (v.error or "") for v in vague)
