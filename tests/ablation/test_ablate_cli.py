"""`longva ablate`: parse / dry-run / run through the real `longva` entry point."""

from __future__ import annotations

import json

import pytest
from ablation_fixtures import SEED_000, SEED_001

from longva.cli import main

BIG_GRID = "model.vision.hf_config.image_size=96,model.vision.hf_config.patch_size=4"  # 24x24 like LongVA-7B


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def test_parse_json(capsys):
    assert main(["ablate", "parse", str(SEED_001), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in out["entries"]] == ["Projection Architecture Ablation", "Image Token Length Ablation"]
    assert out["entries"][1]["replacement"] == [256, 512, 1024, 1536]
    assert out["title"].endswith("Should_VLMs_be_Pre_trained_with_Image_Data_")


def test_parse_table(capsys):
    assert main(["ablate", "parse", str(SEED_000)]) == 0
    assert "Pooling strategy in UniRes encoding scheme" in capsys.readouterr().out


def test_malformed_plan_exits_2_with_one_line(tmp_path, capsys):
    plan = tmp_path / "bad.md"
    plan.write_text(
        "### A\n- **Ablated Part**: pooling\n- **Action**: MODIFY\n- **Metrics**: V-NIAH\n", encoding="utf-8"
    )
    assert main(["ablate", "parse", str(plan), "--json"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {plan}:3: unknown action 'MODIFY'; expected REPLACE, REMOVE or ADD\n"


def test_missing_plan_file(tmp_path, capsys):
    assert main(["ablate", "parse", str(tmp_path / "nope.md")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dry_run_json_one_object_per_variant(capsys):
    assert main(["ablate", str(SEED_000), "--dry-run", "--json", "--base-set", BIG_GRID]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert len(objects) == 1 + 6
    assert [o["tokens_per_frame"] for o in objects[1:4]] == [144, 64, 16]
    assert all(o["error"] is None for o in objects)
    assert objects[4]["overrides"]["stages.s1_long.lr_schedule.kind"] == "linear"


def test_dry_run_table(capsys):
    assert main(["ablate", str(SEED_000), "--dry-run", "--base-set", BIG_GRID]) == 0
    out = capsys.readouterr().out
    assert "64 (8x8)" in out and "model.pooling.kernel=3" in out and "s1_long → s2_align → eval" in out
    assert "reported alongside: video_qa_proxy (synthetic proxy, not videomme)" in out


def test_dry_run_lists_unresolved_items_and_exits_2(tmp_path, capsys):
    plan = tmp_path / "plan.md"
    plan.write_text("### Enc\n- **Ablated Part**: image encoding scheme\n- **Action**: REPLACE\n"
                    "- **Replacement**: \n  - AnyRes\n  - Variant B\n- **Metrics**: V-NIAH\n", encoding="utf-8")
    assert main(["ablate", str(plan), "--dry-run", "--json"]) == 2
    captured = capsys.readouterr()
    objects = json.loads(captured.out)
    assert [o["item"] for o in objects[1:]] == ["AnyRes", "Variant B"]
    assert objects[2]["error"].startswith(f"{plan}:6: entry 'Enc', item 'Variant B': cannot resolve")
    assert captured.err.startswith(f"error: {plan}:6:") and captured.err.count("\n") == 1


def test_set_and_part_options(tmp_path, capsys):
    plan = tmp_path / "plan.md"
    plan.write_text("### Enc\n- **Ablated Part**: image encoding scheme\n- **Action**: REPLACE\n"
                    "- **Replacement**: \n  - Variant B\n- **Metrics**: V-NIAH\n\n"
                    "### Sched\n- **Ablated Part**: learning rate schedule\n- **Action**: REPLACE\n"
                    "- **Replacement**: \n  - linear decay\n- **Metrics**: V-NIAH\n", encoding="utf-8")
    args = ["ablate", str(plan), "--dry-run", "--json", "--set", "Enc/Variant B: model.encoding.max_grids=4",
            "--part", "Sched=train.lr_schedule@s0_text"]
    assert main(args) == 0
    objects = json.loads(capsys.readouterr().out)
    assert objects[1]["overrides"] == {"model.encoding.max_grids": 4}
    assert objects[2]["stage"] == "s0_text"


def test_run_refuses_an_unresolved_plan_before_any_compute(tmp_path, capsys):
    plan = tmp_path / "plan.md"
    plan.write_text("### R\n- **Ablated Part**: RoPE base frequency\n- **Action**: REMOVE\n- **Metrics**: V-NIAH\n",
                    encoding="utf-8")
    assert main(["ablate", str(plan)]) == 2
    assert "cannot be REMOVEd; it is a parameter; use REPLACE with values" in capsys.readouterr().err


def test_knobs_and_metrics_listing(capsys):
    assert main(["ablate", "knobs"]) == 0 and "vision.pooling:" in capsys.readouterr().out
    assert main(["ablate", "metrics"]) == 0 and "videomme [external]" in capsys.readouterr().out


def test_plugin_registers_a_knob_and_a_metric(tmp_path, capsys):
    plan = tmp_path / "plan.md"
    plan.write_text("### F\n- **Ablated Part**: frobnicator depth\n- **Action**: REPLACE\n"
                    "- **Replacement**: \n  - 7\n- **Metrics**: frob score\n", encoding="utf-8")
    assert main(["ablate", str(plan), "--dry-run", "--json", "--plugin", "ablation_plugin_example"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert objects[1]["overrides"] == {"stages.s2_align.steps": 7}
    assert objects[1]["metrics"][0]["id"] == "frob_score"
