"""Plan parsing: the rendered markdown (seeds, examples), the record forms, and malformed plans."""

from __future__ import annotations

import re

import pytest
from ablation_fixtures import EXAMPLES, FIXTURES, SEED_000, SEED_001, all_rendered_plans

from longva.ablation.errors import PlanError
from longva.ablation.parse import load_plan, parse_plan
from longva.ablation.plan import Action
from longva.errors import LongVAError


def test_seed_files_carry_mojibake_and_parse_to_the_expected_plan():
    raw = SEED_000.read_bytes()
    assert "ðŸ§".encode() in raw  # the fixture is the byte-for-byte mojibaked copy
    plan = load_plan(SEED_000)
    assert plan.title == "lm-planner/gpt-4o/Long_Context_Transfer_from_Language_to_Vision"
    assert (plan.planner, plan.model, plan.task_kind) == ("lm-planner", "gpt-4o", "reviewer")
    assert plan.reasoning.startswith('The paper "Long Context Transfer from Language to Vision"')
    assert [e.name for e in plan.entries] == ["Pooling Strategy Ablation", "Learning Rate Schedule Ablation"]
    pooling = plan.entries[0]
    assert pooling.ablated_part == "Pooling strategy in UniRes encoding scheme"
    assert pooling.action is Action.REPLACE
    assert pooling.replacement == [
        "max pooling",
        "average pooling with kernel size 3",
        "average pooling with kernel size 5",
    ]
    assert pooling.metrics == ["V-NIAH accuracy", "Video-MME performance"]
    assert plan.warnings == []


def test_line_numbers_point_at_the_source_lines():
    lines = SEED_001.read_text(encoding="utf-8").splitlines()
    for entry in load_plan(SEED_001).entries:
        assert lines[entry.line - 1] == f"### {entry.name}"
        assert "Action" in lines[entry.action_line - 1]
        for item, lineno in zip(entry.replacement, entry.item_lines, strict=True):
            assert lines[lineno - 1].strip() == f"- {item}"


def test_numeric_items_come_back_as_numbers():
    tokens = load_plan(SEED_001).entries[1]
    assert tokens.replacement == [256, 512, 1024, 1536]
    assert tokens.ablated_part == "Number of image tokens (currently 729)"


@pytest.mark.parametrize("other", ["seed_000.jsonl", "seed_000_response.txt"])
def test_seed_000_record_forms_give_the_identical_plan(other):
    markdown = load_plan(SEED_000)
    records = load_plan(FIXTURES / other)
    assert records == markdown
    assert records.to_records() == markdown.to_records()


@pytest.mark.parametrize("other, task", [("seed_001.jsonl", None), ("seed_001.yaml", None),
                                         ("plans.json", "Should_VLMs_be_Pre_trained_with_Image_Data_")])
def test_seed_001_record_forms_give_the_identical_plan(other, task):
    assert load_plan(FIXTURES / other, task=task) == load_plan(SEED_001)


def test_plan_equality_is_about_content():
    a, b = load_plan(SEED_000), load_plan(FIXTURES / "seed_000.jsonl")
    b.entries[0].replacement[0] = "min pooling"
    assert a != b


def test_jsonl_lines_are_recorded():
    plan = load_plan(FIXTURES / "seed_001.jsonl")
    assert [e.line for e in plan.entries] == [1, 3]  # a blank line between the records


@pytest.mark.parametrize("path", all_rendered_plans(), ids=lambda p: p.name[:40])
def test_every_rendered_plan_parses(path):
    plan = load_plan(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert plan.entries
    for entry in plan.entries:
        assert lines[entry.line - 1].strip() == f"### {entry.name}"
        assert entry.action in Action
        assert entry.metrics
        if entry.action is Action.REPLACE:
            assert entry.replacement


def test_examples_are_all_present():
    assert len(EXAMPLES) == 15


def _example(stem: str):
    return load_plan(next(p for p in EXAMPLES if stem in p.name))


def test_remove_without_replacement_and_add_without_items():
    transfer = _example("Transferability")
    assert [(e.action, e.replacement) for e in transfer.entries] == [(Action.REMOVE, None)] * 2
    top_erl = _example("TOP_ERL")
    add = top_erl.entry("Policy Initial Condition Enforcement")
    assert (add.action, add.replacement) == (Action.ADD, None)


def test_add_with_items():
    plan = parse_plan("### Sweep\n- **Ablated Part**: number of frames\n- **Action**: ADD\n"
                      "- **Replacement**: \n  - 32\n  - 64\n- **Metrics**: V-NIAH\n", source="add.md")
    assert (plan.entries[0].action, plan.entries[0].replacement) == (Action.ADD, [32, 64])


def test_action_comes_only_from_the_action_field():
    epro = _example("epro-pnp")
    assert [e.action for e in epro.entries] == [
        Action.REPLACE,
        Action.REMOVE,
        Action.REPLACE,
        Action.REPLACE,
        Action.REMOVE,
    ]
    assert all(e.metrics[0] == "ADD(-S)" for e in epro.entries)


def test_metrics_split_at_paren_depth_zero_and_rejoin_units():
    visual = _example("visualdet3d")
    assert visual.entry("Ablation: Remove Ground-based Anchor Filtering").metrics == [
        "3D Detection (3D Moderate, BEV Moderate, 3D Hard)", "Inference Time"]
    assert visual.entries[0].metrics == ["3D Detection (3D Moderate, BEV Moderate)",
                                         "Depth Prediction (SILog, absErrorRel, iRMSE)"]
    assert _example("TOP_ERL").entries[0].metrics == ["Success, %"]


def test_rendered_dict_lines_become_a_dict():
    amis = _example("epro-pnp").entry("Vary Monte Carlo Pose Loss Parameters")
    assert amis.replacement == {"AMIS iteration count T": [1, 4, 8], "Samples per iteration K'": [32, 64, 128]}
    assert len(amis.item_lines) == 2


def test_python_literal_items_become_dicts_and_sets_stay_text():
    ddnm = _example("ddnm").entry("Vary Time-Travel Parameters")
    assert ddnm.replacement[0] == {"s": 1, "r": 1}
    plan = parse_plan("### Trig\n- **Ablated Part**: basis functions\n- **Action**: REPLACE\n"
                      "- **Replacement**: \n  - {sin, cos, tan}\n  - [0.1, 0.5]\n- **Metrics**: MSE\n")
    assert plan.entries[0].replacement == ["{sin, cos, tan}", [0.1, 0.5]]


def test_mojibake_repair():
    from longva.ablation.plan import repair_mojibake

    assert repair_mojibake("ðŸ§\u00a0 Reasoning Trace") == "🧠 Reasoning Trace"
    assert repair_mojibake("ðŸ“‹ Ablation Plan") == "📋 Ablation Plan"
    # Text cp1252 cannot encode (CJK) next to a mojibaked run: each run is repaired on its own.
    assert repair_mojibake("ðŸ“‹ 計画 cafÃ©") == "📋 計画 café"
    # A run that is not valid UTF-8 once re-encoded is left alone instead of failing.
    assert repair_mojibake("Ã and more") == "Ã and more"


def test_non_utf8_file_is_read(tmp_path):
    path = tmp_path / "cp1252.md"
    text = (FIXTURES / "seed_000.jsonl").read_text(encoding="utf-8").replace("Pooling strategy", "Pooling stratégie")
    path.write_bytes(text.encode("cp1252"))
    assert load_plan(path).entries[0].ablated_part.startswith("Pooling stratégie")


def _write(tmp_path, text: str, name: str = "plan.md"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


_GOOD = (
    "### A\n- **Ablated Part**: pooling\n- **Action**: REPLACE\n- **Replacement**: \n"
    "  - max pooling\n- **Metrics**: V-NIAH\n"
)


def test_unknown_action_points_at_its_line(tmp_path):
    path = _write(
        tmp_path, _GOOD + "\n### B\n- **Ablated Part**: projector\n- **Action**: MODIFY\n- **Metrics**: GQA\n"
    )
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert str(err.value) == f"{path}:10: unknown action 'MODIFY'; expected REPLACE, REMOVE or ADD"


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("### A\n- **Action**: REMOVE\n- **Metrics**: GQA\n", r":1: entry 'A' has no 'Ablated Part' field"),
        (
            "### A\n- **Ablated Part**: x\n- **Action**: REPLACE\n- **Metrics**: GQA\n",
            r":3: entry 'A': REPLACE needs at least one",
        ),
        (_GOOD + _GOOD, r":7: duplicate entry name 'A'"),
        (
            "### A\n- **Ablated Part**: x\n- **Action**: REMOVE\n- **Action**: ADD\n- **Metrics**: GQA\n",
            r":4: entry 'A': field 'action' given twice",
        ),
        ("just some words\n", r"plan.md: not an ablation plan; expected '### <name>' markdown entries"),
        ("# Title\n\nNo entries here.\n## Ablation Plan\n", r"no ablation entries found"),
        ("", r"file is empty"),
    ],
)
def test_malformed_markdown_is_one_line_with_location(tmp_path, text, pattern):
    path = _write(tmp_path, text)
    with pytest.raises(LongVAError) as err:
        load_plan(path)
    assert "\n" not in str(err.value)
    assert re.search(pattern, str(err.value)), str(err.value)


@pytest.mark.parametrize(
    "text, pattern",
    [
        (
            '{"name": "A", "ablated_part": "x", "action": "REMOVE", "metrics": ["GQA"]}\n{"name": "B",\n',
            r":2: not valid JSON",
        ),
        ('{"name": "A", "ablated_part": "x", "action": "REMOVE"}\n', r":1: record 1 is missing 'metrics'"),
        ('{"name": "A", "ablated_part": "x", "action": "DROP", "metrics": []}\n', r":1: unknown action 'DROP'"),
        (
            '{"name": "A", "ablated_part": "x", "action": "ADD", "replacement": "y", "metrics": []}\n',
            r"replacement must be a list, a mapping or null",
        ),
    ],
)
def test_malformed_records(tmp_path, text, pattern):
    with pytest.raises(PlanError, match=pattern):
        load_plan(_write(tmp_path, text, "plan.jsonl"))


def test_plans_json_with_several_tasks_needs_a_task():
    with pytest.raises(PlanError, match="holds 2 tasks; choose one with --task .*Long_Context"):
        load_plan(FIXTURES / "plans.json")
    assert load_plan(FIXTURES / "plans.json", task="Long_Context_Transfer_from_Language_to_Vision") == load_plan(
        SEED_000
    )


def test_remove_with_items_warns_and_drops_them():
    plan = parse_plan("### A\n- **Ablated Part**: pooling\n- **Action**: REMOVE\n- **Replacement**: \n  - x\n"
                      "- **Metrics**: GQA\n", source="p.md")
    assert plan.entries[0].replacement is None
    assert any("REMOVE with Replacement items" in w for w in plan.warnings)


def test_unknown_labels_and_stray_lines_are_warnings():
    plan = parse_plan("### A\n- **Ablated Part**: pooling\n- **Rationale**: because\n- **Action**: REMOVE\n"
                      "- **Metrics**: GQA\n")
    assert plan.entries[0].action is Action.REMOVE
    assert any("unknown field 'rationale'" in w for w in plan.warnings)


def test_bullet_metrics_and_inline_replacement():
    plan = parse_plan("## A\n**Ablated Part:** pooling\n**Action:** REPLACE\n**Replacement:** [max pooling, 3]\n"
                      "**Metrics:**\n- V-NIAH\n- GQA\n")
    entry = plan.entries[0]
    assert entry.replacement == ["max pooling", 3]
    assert entry.metrics == ["V-NIAH", "GQA"]
