"""Compiling plans to variants: the two seeds, the format traps, action semantics and errors."""

from __future__ import annotations

import re

import pytest
from ablation_fixtures import EXAMPLES, SEED_000, SEED_001

from longva.ablation.errors import CompileError
from longva.ablation.items import ExplicitOverrides, load_variant_map, parse_set
from longva.ablation.knobs import Knob, Resolution
from longva.ablation.parse import load_plan, parse_plan
from longva.recipes.ablation.adapter import RecipeView, compile_recipe_plan, longva_registry


def entry(name: str, part: str, action: str, items=None, metrics: str = "V-NIAH accuracy") -> str:
    text = f"### {name}\n- **Ablated Part**: {part}\n- **Action**: {action}\n"
    if items is not None:
        text += "- **Replacement**: \n" + "".join(f"  - {i}\n" for i in items)
    return text + f"- **Metrics**: {metrics}\n\n"


def compile_text(text: str, base, **kw):
    return compile_recipe_plan(parse_plan(text, source="t.md"), base=base, **kw)


def ok(compiled):
    assert compiled.errors == [], compiled.errors
    return {(v.entry, v.item): v for v in compiled.variants}


# ---- the seeds --------------------------------------------------------------------------------


def test_seed_000_compiles_without_a_manual_map(base_7b):
    compiled = compile_recipe_plan(load_plan(SEED_000), base=base_7b)
    v = ok(compiled)
    pool = "Pooling Strategy Ablation"
    assert v[pool, "max pooling"].overrides == {"model.pooling.kind": "max"}
    assert v[pool, "average pooling with kernel size 3"].overrides == {
        "model.pooling.kind": "avg", "model.pooling.kernel": 3, "model.pooling.stride": 3}
    tokens = [v[pool, i].tokens_per_frame for i in ("max pooling", "average pooling with kernel size 3",
                                                    "average pooling with kernel size 5")]
    assert tokens == [144, 64, 16]
    assert any("drops 4 border" in w for w in v[pool, "average pooling with kernel size 5"].warnings)
    assert all(v[pool, i].stages == ["s2_align", "eval"] for i in ("max pooling", "average pooling with kernel size 3"))
    lr = "Learning Rate Schedule Ablation"
    kinds = {item: v[lr, item].overrides["stages.s1_long.lr_schedule.kind"]
             for item in ("linear decay", "cosine annealing", "exponential decay")}
    assert kinds == {"linear decay": "linear", "cosine annealing": "cosine", "exponential decay": "exponential"}
    assert v[lr, "exponential decay"].overrides["stages.s1_long.lr_schedule.final_lr_ratio"] == 0.1
    assert all(v[lr, i].stage == "s1_long" and v[lr, i].stages == ["s1_long", "s2_align", "eval"] for i in kinds)
    assert len(compiled.runs) == 7 and compiled.baseline.tokens_per_frame == 144
    assert [m.id for m in compiled.baseline.metrics] == ["vniah", "videomme"]


def test_seed_001_maps_another_papers_plan_onto_this_recipe(base_7b):
    compiled = compile_recipe_plan(load_plan(SEED_001), base=base_7b)
    v = ok(compiled)
    proj = "Projection Architecture Ablation"
    assert v[proj, "4-layer MLP"].overrides == {"model.projector.type": "mlp4x_gelu"}
    assert v[proj, "Transformer layers"].overrides == {"model.projector.type": "transformer",
                                                       "model.projector.num_layers": 2}
    cross = v[proj, "Cross-attention layers"]
    assert cross.overrides["model.projector.type"] == "cross_attn"
    assert cross.overrides["model.projector.num_queries"] == 24 * 24  # native tokens per grid
    assert cross.tokens_per_frame == compiled.baseline.tokens_per_frame == 144  # token count not confounded
    tok = "Image Token Length Ablation"
    # "(currently 729)": the counts run at the plan's ratio to this base's 144 tokens/frame, rounded
    # to the nearest count with a 2-D grid (256/729 x 144 = 50.6 -> 50 = 5x10; 1536 -> 303.4 -> 304 = 16x19)
    assert [v[tok, n].overrides for n in ("256", "512", "1024", "1536")] == [
        {"model.pooling.tokens_per_grid": n} for n in (50, 100, 204, 304)]
    assert [v[tok, n].derived["token_grid"] for n in ("256", "512", "1024", "1536")] == [
        "5x10",
        "10x10",
        "12x17",
        "16x19",
    ]
    assert [v[tok, n].derived["plan_value"] for n in ("256", "1536")] == [256, 1536]
    assert "tokens 256 on the plan's scale (0.351x its 729) runs as 50" in " ".join(v[tok, "256"].notes)
    notes = " ".join(v[tok, "256"].entry_notes)
    assert "729" in notes and "model.pooling.tokens_per_grid" in notes
    assert any("Should_VLMs" in n for n in compiled.baseline.notes)
    assert len(compiled.runs) == 8


def test_seed_001_token_counts_literal(base_7b):
    v = ok(compile_recipe_plan(load_plan(SEED_001), base=base_7b, counts="literal"))
    tok = "Image Token Length Ablation"
    assert [v[tok, n].overrides for n in ("256", "512", "1024", "1536")] == [
        {"model.pooling.tokens_per_grid": n} for n in (256, 512, 1024, 1536)]
    assert [v[tok, n].derived["token_grid"] for n in ("256", "512", "1024", "1536")] == [
        "16x16",
        "16x32",
        "32x32",
        "32x48",
    ]
    assert [v[tok, n].tokens_per_frame for n in ("256", "1536")] == [256, 1536]
    assert any("not a square; laid out as 32x48" in w for w in v[tok, "1536"].warnings)
    assert v[tok, "256"].warnings == []  # 576 native tokens -> 256: adaptive pooling, square
    assert "plan_value" not in v[tok, "256"].derived


def test_relative_counts_only_with_a_declared_numeric_base(base_7b):
    from longva.ablation.compiler import scale_count
    from longva.recipes.ablation.visual_tokens import near_square_count

    assert [near_square_count(t) for t in (0.2, 3.16, 6.3, 12.6, 18.96, 50.6)] == [1, 4, 6, 12, 18, 50]
    rounded = near_square_count
    assert scale_count(256, "729", 9, rounded) == 4 and scale_count(256, "1,458", 18, rounded) == 4
    assert scale_count(256, "729", 729, rounded) is None  # the bases agree: nothing to scale
    assert scale_count(256, "SigLIP", 9, rounded) is None and scale_count(True, "729", 9, rounded) is None
    # no "(currently X)" in the part: the count runs as written
    text = entry("Tokens", "Number of image tokens", "REPLACE", ["256"])
    assert ok(compile_text(text, base_7b))["Tokens", "256"].overrides == {"model.pooling.tokens_per_grid": 256}
    with pytest.raises(CompileError, match="--counts 'scaled': expected one of relative, literal"):
        compile_text(text, base_7b, counts="scaled")


def test_json_has_one_object_per_variant(base_7b):
    compiled = compile_recipe_plan(load_plan(SEED_001), base=base_7b)
    objects = compiled.to_json()
    assert len(objects) == 1 + 7
    assert objects[0]["entry"] == "(baseline)" and objects[0]["is_baseline"]
    assert {o["knob"] for o in objects[1:]} == {"model.projector", "vision.tokens_per_grid"}
    metric = objects[1]["metrics"][0]
    assert metric["id"] == "vqav2" and metric["status"].startswith("not available: needs dataset vqav2")


# ---- pooling arithmetic -----------------------------------------------------------------------


def test_pooling_arithmetic_stride_follows_kernel(base_7b):
    """24x24 with kernel k and stride k: 12x12, 8x8, 4x4 (the floor drops the ragged border)."""
    from longva.recipes.ablation.visual_tokens import tokens_per_frame

    pooled = [base_7b.apply({"model.pooling.kernel": k, "model.pooling.stride": k}) for k in (2, 3, 5)]
    assert [tokens_per_frame(view) for view in pooled] == [144, 64, 16]


def test_the_keep_token_count_policy_is_gone(capsys):
    """It needed a model.pooling.padding field the model does not have, so it could only fail."""
    from longva.cli import main

    assert main(["ablate", str(SEED_000), "--dry-run", "--pool-policy", "keep_token_count"]) == 2
    assert "No such option: --pool-policy" in capsys.readouterr().err


def test_token_count_resampling():
    from longva.recipes.ablation.visual_tokens import resample_plan

    assert resample_plan(729, 256) == {"grid": "16x16", "method": "adaptive_pool", "warnings": []}
    big = resample_plan(729, 1536)
    assert (big["grid"], big["method"]) == ("32x48", "interpolate")
    assert any("not a square; laid out as 32x48" in w for w in big["warnings"])


# ---- replacement forms (with plugin knobs registered in a private registry) --------------------


@pytest.fixture
def registry():
    reg = longva_registry()
    reg.add_knob(Knob(id="test.time_travel", summary="time-travel interval s and repeats r",
                      params={"s": "stages.s2_align.steps", "r": "stages.s2_align.batch_size"},
                      patterns=[(r"\btime[- ]travel\b", 3)]))
    reg.add_knob(Knob(id="test.amis", summary="AMIS iterations T and samples K'",
                      params={"T": "stages.s0_text.steps", "K'": "stages.s0_text.batch_size"},
                      patterns=[(r"\bamis\b", 3)]))
    reg.add_knob(Knob(id="test.loss_weights", summary="loss weights λ_RGB and λ_depth",
                      params={"λ_RGB": "stages.s0_text.lr", "λ_depth": "stages.s1_long.lr"},
                      patterns=[(r"\bloss weights?\b", 3)]))
    return reg


def test_dict_literal_item_is_a_two_key_override(base_7b, registry):
    text = entry("TT", "Time-travel parameters s (interval) and r (repeat times).", "REPLACE",
                 ["{'s': 1, 'r': 1}", "{'s': 2, 'r': 1}"])
    v = ok(compile_text(text, base_7b, registry=registry))
    assert v["TT", "{'s': 1, 'r': 1}"].overrides == {"stages.s2_align.steps": 1, "stages.s2_align.batch_size": 1}
    assert v["TT", "{'s': 1, 'r': 1}"].recogniser == "generic.dict"


def test_rendered_dict_lines_give_one_factor_variants(base_7b, registry):
    text = entry("AMIS", "AMIS settings", "REPLACE", ["AMIS iteration count T: [1, 4, 8]",
                                                      "Samples per iteration K': [32, 64, 128]"])
    compiled = compile_text(text, base_7b, registry=registry)
    v = ok(compiled)
    assert len(v) == 6
    assert v["AMIS", "AMIS iteration count T=4"].overrides == {"stages.s0_text.steps": 4}
    assert v["AMIS", "Samples per iteration K'=64"].overrides == {"stages.s0_text.batch_size": 64}
    assert all(len(x.overrides) == 1 for x in v.values())


def test_comma_joined_assignments_set_two_keys(base_7b, registry):
    text = entry("W", "loss weights", "REPLACE", ["λ_RGB=5,λ_depth=15"])
    v = ok(compile_text(text, base_7b, registry=registry))
    assert v["W", "λ_RGB=5,λ_depth=15"].overrides == {"stages.s0_text.lr": 5, "stages.s1_long.lr": 15}


def test_default_marked_item_is_the_baseline(base_7b):
    text = entry("Proj", "projector", "REPLACE", ["2-layer MLP (default)", "linear"])
    compiled = compile_text(text, base_7b)
    v = ok(compiled)
    assert v["Proj", "2-layer MLP (default)"].is_baseline
    assert v["Proj", "2-layer MLP (default)"].stages == []
    assert not v["Proj", "linear"].is_baseline
    assert len(compiled.runs) == 2  # baseline + linear


def test_baseline_dedupe_across_entries(base_7b):
    text = (entry("Pool", "pooling strategy", "REPLACE", ["average pooling", "max pooling"])
            + entry("Sched", "learning rate schedule during long context training", "REPLACE", ["constant", "cosine"])
            + entry("Pool again", "token pooling per frame", "REPLACE", ["max pooling"]))
    base = base_7b.apply({"stages.s1_long.lr_schedule.kind": "constant"})
    compiled = compile_text(text, base)
    v = ok(compiled)
    assert v["Pool", "average pooling"].is_baseline and v["Sched", "constant"].is_baseline
    assert v["Pool", "average pooling"].run_id == v["Sched", "constant"].run_id == compiled.baseline.run_id
    assert v["Pool again", "max pooling"].duplicate_of == "Pool/max pooling"
    assert len(compiled.runs) == 3  # baseline, max pooling, cosine


# ---- action semantics -------------------------------------------------------------------------


def test_remove_uses_the_knobs_removal(base_7b):
    v = ok(compile_text(entry("NoPool", "token pooling", "REMOVE"), base_7b))
    variant = v["NoPool", "REMOVE"]
    assert variant.overrides == {"model.pooling.kind": "none"}
    assert variant.tokens_per_frame == 576  # 4x the context per frame: the table must show it


def test_remove_on_a_parameter_knob_is_an_error(base_7b):
    compiled = compile_text(entry("Rope", "RoPE base frequency", "REMOVE"), base_7b)
    assert re.search(r"^t\.md:3: .*'lm\.rope_theta' cannot be REMOVEd; it is a parameter; use REPLACE with values$",
                     compiled.errors[0])


def test_add_with_items_is_one_variant_per_item(base_7b):
    v = ok(compile_text(entry("Frames", "number of frames", "ADD", ["32", "64 frames"]), base_7b))
    # The recipe evaluates a list of frame counts: one number means a one-element list.
    expected = [32] if isinstance(base_7b.get("eval.video_qa_proxy.frames"), list) else 32
    assert v["Frames", "32"].overrides == {"eval.video_qa_proxy.frames": expected}
    assert v["Frames", "64 frames"].stages == ["eval"]


def test_add_without_items_enables_an_addable_component(base_7b):
    v = ok(compile_text(entry("Tune", "vision tower fine-tuning", "ADD"), base_7b))
    variant = v["Tune", "ADD"]
    assert variant.overrides["model.vision.frozen"] is False
    assert "vision_tower" in variant.overrides["stages.s2_align.tunable_parts"]


def test_add_without_items_on_a_non_addable_knob_fails(base_7b):
    compiled = compile_text(entry("P", "projector", "ADD"), base_7b)
    assert "cannot be ADDed without items" in compiled.errors[0]


# ---- stages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("part, stage, note", [
    ("Learning rate schedule during alignment", "s2_align", None),
    ("Learning rate schedule during pre-training", "s2_align", "pre-training is applied"),
    ("LR schedule of text-only training", "s0_text", None),
])
def test_stage_qualifiers(base_7b, part, stage, note):
    compiled = compile_text(entry("S", part, "REPLACE", ["linear decay"]), base_7b)
    variant = ok(compiled)["S", "linear decay"]
    assert variant.stage == stage and f"stages.{stage}.lr_schedule.kind" in variant.overrides
    assert variant.stages[0] == stage
    if note:
        assert any(note in n for n in variant.entry_notes)


def test_schedule_without_a_stage_is_ambiguous(base_7b):
    compiled = compile_text(entry("S", "Learning rate schedule", "REPLACE", ["cosine"]), base_7b)
    # v0_vision (the tower's contrastive pretraining) has a schedule too
    assert ("names train.lr_schedule but not which stage; stages with one: v0_vision, s0_text, s1_long, s2_align"
            in compiled.errors[0])


# ---- errors list the options ------------------------------------------------------------------


def test_unknown_part_is_unsupported_with_known_knobs(base_7b):
    compiled = compile_text(entry("X", "hypergraph structure in table encoder", "REPLACE", ["GNN"]), base_7b)
    (error,) = compiled.errors
    assert error.startswith("t.md:2: entry 'X': unsupported for this recipe")
    assert "known knobs: data.align_mix, eval.frames" in error


def test_ambiguous_part_lists_the_knobs(base_7b, registry):
    registry.add_knob(Knob(id="test.other_pool", summary="another pooling", params={"kind": "model.pooling.kind"},
                           patterns=[(r"\bpool(?:ing|ed)?\b", 3), (r"\bkernel\b", 1), (r"\bstride\b", 1),
                                     (r"\b(?:token|spatial) (?:reduction|merging|downsampl\w*)\b", 2)]))
    compiled = compile_text(entry("P", "spatial pooling", "REPLACE", ["fancy"]), base_7b, registry=registry)
    assert (
        "ambiguous ablated part 'spatial pooling': matches knobs test.other_pool, vision.pooling" in compiled.errors[0]
    )


def test_unresolvable_item_lists_known_values(base_7b):
    compiled = compile_text(entry("Enc", "image encoding scheme", "REPLACE", ["AnyRes", "Variant B"]), base_7b)
    v = {x.item: x for x in compiled.variants}
    assert v["AnyRes"].overrides == {"model.encoding.scheme": "anyres"}
    assert v["Variant B"].error.startswith("t.md:6: entry 'Enc', item 'Variant B': cannot resolve replacement"
                                           " 'Variant B' for knob vision.encoding; known values: UniRes, AnyRes")
    assert "--set 'Enc/Variant B: path=value'" in v["Variant B"].error


def test_unknown_metric_lists_the_closest(base_7b):
    compiled = compile_text(entry("P", "pooling", "REPLACE", ["max pooling"], metrics="V-NIAH, Video MMX"), base_7b)
    assert "unknown metric 'Video MMX' (closest: videomme" in compiled.errors[0]
    skipped = compile_text(entry("P", "pooling", "REPLACE", ["max pooling"], metrics="V-NIAH, Video MMX"), base_7b,
                           skip_unknown_metrics=True)
    assert skipped.errors == [] and skipped.variants[0].metrics[1].status == "n/a: unknown metric"


def test_unsupported_values_say_why(base_7b):
    text = (entry("Pool", "pooling", "REPLACE", ["attention pooling", "3"])
            + entry("Proj", "projector", "REPLACE", ["C-Abstractor"])
            + entry("Sched", "LR schedule during alignment", "REPLACE", ["WSD"]))
    v = {(x.entry, x.item): x for x in compile_text(text, base_7b).variants}
    assert "attention/learned pooling needs a trained pooling module" in v["Pool", "attention pooling"].error
    assert v["Pool", "3"].overrides == {"model.pooling.kernel": 3, "model.pooling.stride": 3}
    assert "known types: linear, mlpNx_gelu" in v["Proj", "C-Abstractor"].error
    assert "not implemented in longva.train.schedules; known kinds:" in v["Sched", "WSD"].error


# ---- explicit overrides -----------------------------------------------------------------------


def test_explicit_override_wins_and_unknown_paths_list_close_names(base_7b):
    plan = parse_plan(entry("Enc", "image encoding scheme", "REPLACE", ["Variant B", "Variant C"]), source="t.md")
    explicit = ExplicitOverrides()
    explicit.add_item(*parse_set("Enc/Variant B: model.encoding.max_grids=16", ["Enc"]))
    explicit.add_item(*parse_set("Enc/Variant C: model.encoding.max_grid=16", ["Enc"]))
    v = {x.item: x for x in compile_recipe_plan(plan, base=base_7b, explicit=explicit).variants}
    assert v["Variant B"].overrides == {"model.encoding.max_grids": 16} and v["Variant B"].recogniser == "explicit"
    assert "unknown config path 'model.encoding.max_grid'" in v["Variant C"].error
    assert "did you mean max_grids" in v["Variant C"].error


def test_variant_map_file_and_part_choice(base_7b, tmp_path):
    plan = parse_plan(entry("Odd", "something about our tokens", "REPLACE", ["fewer", "more"])
                      + entry("Sched", "learning rate schedule", "REPLACE", ["cosine"]), source="t.md")
    path = tmp_path / "map.yaml"
    path.write_text(
        '"Odd":\n  fewer: {model.pooling.kernel: 4, model.pooling.stride: 4}\n  more: "model.pooling.kind=none"\n'
        '"Sched":\n  _part: train.lr_schedule@s2_align\n',
        encoding="utf-8",
    )
    v = ok(compile_recipe_plan(plan, base=base_7b, explicit=load_variant_map(path)))
    assert v["Odd", "fewer"].tokens_per_frame == 36 and v["Odd", "more"].tokens_per_frame == 576
    assert v["Sched", "cosine"].stage == "s2_align"


def test_explicit_names_must_exist(base_7b):
    plan = parse_plan(entry("Enc", "image encoding scheme", "REPLACE", ["AnyRes"]), source="t.md")
    explicit = ExplicitOverrides()
    explicit.add_item("Enc", "AnyRez", {"model.encoding.scheme": "anyres"})
    with pytest.raises(
        CompileError, match="names item 'anyrez' of entry 'Enc', which has no such item; items: 'AnyRes'"
    ):
        compile_recipe_plan(plan, base=base_7b, explicit=explicit)


def test_inline_explicit_override(base_7b):
    v = ok(compile_text(entry("Enc", "whatever we like", "REPLACE", ["mine {{model.encoding.max_grids=9}}"]), base_7b))
    assert v["Enc", "mine {{model.encoding.max_grids=9}}"].overrides == {"model.encoding.max_grids": 9}


# ---- plans about other papers -----------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name[:40])
def test_example_plans_compile_or_fail_per_entry_with_a_clear_message(base_7b, path):
    plan = load_plan(path)
    compiled = compile_recipe_plan(plan, base=base_7b)
    for e in plan.entries:
        variants = [v for v in compiled.variants if v.entry == e.name]
        assert variants, e.name
        for v in variants:
            if v.error:
                assert "\n" not in v.error and v.error.startswith(f"{path}:") and repr(e.name) in v.error
        part_errors = [v.error for v in variants if v.error and v.item is None and "metric" not in v.error]
        assert all("unsupported for this recipe" in m or "but not which stage" in m for m in part_errors), part_errors


def test_an_example_entry_that_names_nothing_of_ours(base_7b):
    compiled = compile_recipe_plan(load_plan(next(p for p in EXAMPLES if "visualdet3d" in p.name)), base=base_7b)
    assert sum("unsupported for this recipe" in e for e in compiled.errors) == 4


# ---- the toy recipe's own base ----------------------------------------------------------------


@pytest.mark.parametrize("quick", [False, True], ids=["default", "quick"])
def test_seeds_on_the_toy_recipe_base(quick):
    """Both seeds compile on the toy recipe itself (48 px / patch 8 = 6x6 patches), no manual map:
    kernel 5 fits the 6x6 map, and each pooling kernel gives its own token count."""
    base = RecipeView.default(quick=quick)
    assert base.model_config().vision.grid_side == 6
    compiled = compile_recipe_plan(load_plan(SEED_000), base=base)
    v = ok(compiled)
    assert compiled.baseline.tokens_per_frame == 9  # 6x6 -> 2x2 avg pool -> 3x3
    pool = "Pooling Strategy Ablation"
    tokens = [v[pool, i].tokens_per_frame for i in ("max pooling", "average pooling with kernel size 3",
                                                    "average pooling with kernel size 5")]
    assert tokens == [9, 4, 1]  # 6x6: k=3 s=3 -> 2x2, k=5 s=5 -> 1x1 (floor drops a border column)
    seed_001 = compile_recipe_plan(load_plan(SEED_001), base=base)
    assert seed_001.errors == []
    cross = next(x for x in seed_001.variants if x.item == "Cross-attention layers")
    assert cross.overrides["model.projector.num_queries"] == 36
    assert cross.tokens_per_frame == seed_001.baseline.tokens_per_frame


def test_plugin_recogniser_extends_a_knob(base_7b, registry):
    text = entry("Enc", "image encoding scheme", "REPLACE", ["6 tiles"])
    assert "cannot resolve replacement '6 tiles'" in compile_text(text, base_7b, registry=registry).errors[0]

    @registry.recogniser("vision.encoding", "test.tiles")
    def tiles(item, ctx):
        m = re.fullmatch(r"(\d+) tiles", item.text)
        return Resolution({"max_grids": int(m.group(1))}, "test.tiles") if m else None

    variant = ok(compile_text(text, base_7b, registry=registry))["Enc", "6 tiles"]
    assert (variant.overrides, variant.recogniser) == ({"model.encoding.max_grids": 6}, "test.tiles")


def test_removing_the_projector_needs_equal_widths(base_7b):
    text = entry("Proj", "vision-language projector", "REMOVE")
    d_vision = base_7b.model_config().vision.hidden_size
    assert base_7b.model_config().lm.hf_config["hidden_size"] != d_vision
    assert "needs the vision width" in compile_text(text, base_7b).errors[0]
    same = base_7b.apply({"model.lm.hf_config.hidden_size": d_vision})
    assert ok(compile_text(text, same))["Proj", "REMOVE"].overrides == {"model.projector.type": "identity"}


def test_ablation_base_keeps_the_recipes_visual_token_lengths():
    from longva.recipes.ablation.visual_tokens import budget
    from longva.recipes.config import RecipeConfig

    recipe, base = RecipeConfig(), RecipeView.default()
    ours = budget(RecipeView(recipe, "recipe"))["facts"]["tokens_per_frame"]
    theirs = budget(base)["facts"]["tokens_per_frame"]
    assert base.get("model.vision.hf_config.image_size") == 48 and (ours, theirs) == (4, 9)
    # each scaled count is the nearest to the recipe's token length (within half a frame/grid)
    frames = base.get("eval.vniah.frames")
    assert len(frames) == len(recipe.eval.vniah.frames)
    for scaled, original in zip(frames, recipe.eval.vniah.frames):
        assert abs(scaled * theirs - original * ours) <= theirs / 2
    # the alignment images: the recipe's caps at the base's S0 context (256 tokens), scaled alike
    from longva.recipes.ablation.adapter import ABLATION_BASE_PINS

    assert base.get("stages.s0_text.seq_len") == 256 == ABLATION_BASE_PINS["stages.s0_text.seq_len"]
    caps = {"max_grids": ABLATION_BASE_PINS["stages.s2_align.max_grids"],
            "easy_max_grids": recipe.stages.s2_align.easy_max_grids}
    for path, original in caps.items():
        scaled = base.get(f"stages.s2_align.{path}")
        assert abs(scaled * theirs - original * ours) <= theirs / 2
    assert base.get("stages.s2_align.max_grids") == 14  # 14 x 9 = 126 tokens vs 32 x 4 = 128 at 32 px
    assert 14 * theirs + 37 <= 256  # the longest image and the prompt fit the base's S0 context
    assert base.get("stages.s2_align.same_grids_per_batch") is False  # as the base was measured


# ---- underspecified items and what each refusal names -------------------------------------------


@pytest.mark.parametrize("part, item", [
    ("image encoding (UniRes / AnyRes)", "UniRes variant 1"),  # names only the current scheme
    ("image encoding scheme", "UniRes version 2"),
    ("pooling strategy", "improved average pooling"),
    ("vision-language projector", "alternative 2-layer MLP"),
    ("image encoding scheme", "Variant 1"),
])
def test_vague_items_are_refused_never_mapped_to_the_baseline(base_7b, part, item):
    compiled = compile_text(entry("E", part, "REPLACE", [item]), base_7b)
    (variant,) = compiled.variants
    assert not variant.is_baseline and variant.error is not None and "\n" not in variant.error
    assert "underspecified: say what differs" in variant.error
    assert variant.error.startswith(f"t.md:5: entry 'E', item {item!r}: ")
    assert compiled.runs == [compiled.baseline.run_id]  # nothing runs for it
    with pytest.raises(CompileError, match="underspecified: say what differs"):
        compiled.raise_if_unresolved()


def test_an_explicit_override_gives_a_vague_item_its_meaning(base_7b):
    plan = parse_plan(entry("E", "image encoding (UniRes / AnyRes)", "REPLACE", ["UniRes variant 1"]), source="t.md")
    explicit = ExplicitOverrides()
    explicit.add_item(*parse_set("E/UniRes variant 1: model.encoding.max_grids=16", ["E"]))
    variant = ok(compile_recipe_plan(plan, base=base_7b, explicit=explicit))["E", "UniRes variant 1"]
    assert variant.overrides == {"model.encoding.max_grids": 16} and not variant.is_baseline


def test_a_vague_item_that_names_another_value_runs_it_and_says_so(base_7b):
    variant = ok(compile_text(entry("E", "image encoding scheme", "REPLACE", ["AnyRes variant 2"]), base_7b))[
        "E", "AnyRes variant 2"]
    assert variant.overrides == {"model.encoding.scheme": "anyres"}
    assert any("'variant 2' says that something differs without saying what; it is not applied" in w
               for w in variant.warnings)


def test_the_dry_run_refuses_an_underspecified_item_in_one_line(tmp_path, capsys):
    from longva.cli import main

    plan = tmp_path / "plan.md"
    plan.write_text(entry("Enc", "image encoding scheme", "REPLACE", ["UniRes variant 1", "AnyRes"]), encoding="utf-8")
    assert main(["ablate", str(plan), "--dry-run", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "underspecified: say what differs" in err and err.startswith(f"error: {plan}:5:")


# each refusal names what is missing: a capability of the recipe, or a wording of the plan
REFUSALS = [
    (entry("Tower", "vision encoder", "REPLACE", ["EVA-CLIP"]), "vision tower 'EVA-CLIP' is not supported; known:"),
    (entry("Proj", "projector", "REPLACE", ["C-Abstractor"]),
     "projector 'C-Abstractor' is not implemented; known types:"),
    (entry("Sched", "LR schedule during alignment", "REPLACE", ["WSD"]),
     "schedule 'WSD' is not implemented in longva.train.schedules; known kinds:"),
    (entry("Pool", "pooling", "REPLACE", ["attention pooling"]), "needs a trained pooling module this recipe does not"),
    (entry("Graph", "hypergraph structure in table encoder", "REPLACE", ["GNN"]),
     "names none of its knobs (missing: a knob for 'hypergraph structure'"),
    (entry("Which", "Learning rate schedule", "REPLACE", ["cosine"]), "names train.lr_schedule but not which stage"),
    (entry("Rope", "RoPE base frequency", "REMOVE"), "cannot be REMOVEd; it is a parameter; use REPLACE with values"),
    (entry("Vague", "image encoding scheme", "REPLACE", ["UniRes variant 1"]), "underspecified: say what differs"),
    (entry("Words", "image encoding scheme", "REPLACE", ["Variant B"]),
     "cannot resolve replacement 'Variant B' for knob vision.encoding; known values: UniRes, AnyRes"),
    (entry("Dyn", "number of image tokens", "REPLACE", ["dynamic per image"]),
     "no item of entry 'Dyn' is a value vision.tokens_per_grid (visual tokens per grid"),
    (entry("Metric", "pooling", "REPLACE", ["max pooling"], metrics="Video MMX"),
     "unknown metric 'Video MMX' (closest:"),
]


@pytest.mark.parametrize("text, missing", REFUSALS, ids=[r[1][:30] for r in REFUSALS])
def test_every_refusal_names_what_is_missing(base_7b, text, missing):
    errors = compile_text(text, base_7b).errors
    assert len(errors) == 1 and missing in errors[0] and "\n" not in errors[0], errors
