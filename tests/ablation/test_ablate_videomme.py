"""Video-MME in an ablation: with a local copy in the official layout every run answers it through
`longva eval videomme`'s harness; without one the cell says so and the synthetic proxy stands in."""

from __future__ import annotations

import json

import pytest
from ablate_run_helpers import tiny_base

from longva.ablation.parse import parse_plan
from longva.eval.videomme_synthetic import write_synthetic_videomme
from longva.recipes.ablation.adapter import compile_recipe_plan, run_recipe_ablation

PLAN = """### Pool
- **Ablated Part**: pooling strategy
- **Action**: REPLACE
- **Replacement**: 
  - max pooling
- **Metrics**: Video-MME @8 frames
"""
KEY = "videomme(frames=8,subtitles=False)"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    write_synthetic_videomme(data / "videomme", videos_per_duration=1)
    return data


def test_video_mme_is_evaluated_when_its_data_is_present(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("LONGVA_DATA_DIR", str(data_dir))
    base = tiny_base()
    compiled = compile_recipe_plan(parse_plan(PLAN, source="plan.md"), base=base)
    metric = compiled.variants[0].metrics[0]
    assert (metric.key, metric.available, metric.proxy) == (KEY, True, None)
    run = run_recipe_ablation(compiled, tmp_path / "out", base=base, threads=1)
    entry = run.results["entries"][0]
    assert KEY in {c["id"] for c in entry["columns"]} and "video_qa_proxy" not in {c["id"] for c in entry["columns"]}
    assert f"delta:{KEY}" in {c["id"] for c in entry["columns"]}  # a benchmark of the plan: paired too
    for row in entry["rows"]:
        (run_id,) = row["runs"]
        report = json.loads((tmp_path / "out" / "variants" / run_id / "videomme" / "results.json").read_text())
        scores = report["by_frames"]["8"]["overall"]  # accuracy in percent, over answered questions
        value = run.records[run_id]["metrics"][KEY]
        assert (value["answered"], value["questions"]) == (scores["answered"], scores["questions"]) == \
            (scores["answered"], 9)  # 3 synthetic videos x 3 questions
        if scores["accuracy"] is None:  # the tiny model gave no choice letter: a reason, not a number
            assert row["cells"][KEY]["mean"] is None
            assert row["cells"][KEY]["display"] == "n/a: no answer had a choice letter (0 of 9 answered)"
        else:
            assert row["cells"][KEY]["mean"] == pytest.approx(scores["accuracy"] / 100)


def test_video_mme_without_data_is_a_status_and_the_proxy_stands_in(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVA_DATA_DIR", str(tmp_path / "nothing"))
    compiled = compile_recipe_plan(parse_plan(PLAN, source="plan.md"), base=tiny_base())
    metric = compiled.variants[0].metrics[0]
    assert not metric.available and metric.proxy == "video_qa_proxy"
    assert metric.status.startswith(f"not available: needs dataset videomme at {tmp_path / 'nothing' / 'videomme'}")


def test_the_value_is_the_harness_accuracy_in_percent_over_100(tmp_path, monkeypatch):
    """What the evaluator asks the harness and reads back (the harness itself runs in the test above)."""
    from types import SimpleNamespace

    from longva.ablation.registry import data_dir
    from longva.recipes.ablation import recipe_metrics

    def scores(accuracy):
        return {"accuracy": accuracy, "accuracy_all": accuracy, "answered": 10, "questions": 10}

    calls = []

    def harness(model_dir, data, frames, out, device):
        calls.append((model_dir, data, frames, out, device))
        return {"by_frames": {str(frames[0]): {"overall": scores(52.6), "by_duration": {"long": scores(47.0)}}}}

    monkeypatch.setattr(recipe_metrics, "evaluate", harness)
    run = SimpleNamespace(run_dir=tmp_path / "run", model=lambda: SimpleNamespace(path=tmp_path / "s2_align"))
    assert recipe_metrics.videomme(run, {})["value"] == pytest.approx(0.526)  # 128 frames unless the plan says
    assert calls[0] == (tmp_path / "s2_align" / "model", data_dir() / "videomme", (128,), tmp_path / "run" / "videomme",
                        "auto")
    assert recipe_metrics.videomme(run, {"frames": 64, "subset": "long"})["value"] == pytest.approx(0.47)
    assert calls[1][2] == (64,)
    assert recipe_metrics.videomme(run, {"subtitles": True})["value"] is None and len(calls) == 2
