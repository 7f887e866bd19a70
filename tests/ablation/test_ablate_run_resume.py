"""The ablation runner: a killed matrix resumes without redoing finished runs; --seeds gives mean ± std;
measurements are read at the stage each entry ablates."""

from __future__ import annotations

import csv
import io

import pytest
from ablate_run_helpers import tiny_base

from longva.ablation.parse import parse_plan
from longva.ablation.result_tables import Column, cell
from longva.recipes.ablation.adapter import compile_recipe_plan, run_recipe_ablation
from longva.recipes.ablation.recipe_metrics import stage_tokens_per_s
from longva.recipes.stage_runner import StageResult
from longva.utils.io import append_jsonl

PLAN = """### Pooling
- **Ablated Part**: pooling strategy in UniRes encoding
- **Action**: REPLACE
- **Replacement**: 
  - max pooling
  - average pooling with kernel size 3
- **Metrics**: V-NIAH accuracy, text NIAH, training loss, throughput, memory usage, training time, inference time

### Schedule
- **Ablated Part**: learning rate schedule during long context training
- **Action**: REPLACE
- **Replacement**: 
  - linear decay
- **Metrics**: training loss, throughput
"""


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One stage cache for the module: the seeds run reuses the seed-0 stages of the resume test."""
    return tmp_path_factory.mktemp("stage_cache")


@pytest.fixture(scope="module")
def plan():
    base = tiny_base()
    return compile_recipe_plan(parse_plan(PLAN, source="plan.md"), base=base), base


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.json")}


def test_a_killed_matrix_resumes_without_redoing_finished_runs(tmp_path, cache, plan):
    compiled, base = plan
    out = tmp_path / "out"
    done: list[str] = []

    def kill_after_two(spec, record, computed):
        done.append(spec.id)
        if len(done) == 2:
            raise Killed

    with pytest.raises(Killed):
        run_recipe_ablation(compiled, out, base=base, threads=1, cache_dir=cache, on_run_done=kill_after_two)
    assert sorted(p.stem for p in (out / "variants").glob("*.json")) == sorted(done)
    # the second run died after its last stage but before its record: the stage cache must serve it all
    (out / "variants" / f"{done[1]}.json").unlink()
    finished = _snapshot(out / "variants")
    stage_marks = {d.name: (d / "DONE.json").stat().st_mtime_ns for d in cache.iterdir() if (d / "DONE.json").exists()}

    result = run_recipe_ablation(compiled, out, base=base, threads=1, cache_dir=cache)

    assert result.reused == [done[0]]
    assert result.computed[0] == done[1] and len(result.computed) == len(result.matrix.runs) - 1 == 3
    # the finished run's record is byte- and mtime-identical, and no finished stage was rewritten
    assert {k: v for k, v in _snapshot(out / "variants").items() if k in finished} == finished
    assert all((cache / d / "DONE.json").stat().st_mtime_ns == m for d, m in stage_marks.items())
    resumed = result.results["runs"][done[1]]["stages"]
    assert resumed and not any(s["computed"] for s in resumed.values())
    assert not result.results["runs"][done[0]]["computed_by_this_call"]


def test_seeds_give_mean_and_std_and_measurements_at_the_ablated_stage(tmp_path, cache, plan):
    compiled, base = plan
    result = run_recipe_ablation(compiled, tmp_path / "out", seeds=2, base=base, threads=1, cache_dir=cache)
    results = result.results
    assert results["seeds"] == [0, 1] and len(result.matrix.runs) == 8  # 4 configurations x 2 seeds
    assert len({run["stages"]["s0_text"] for p in results["provenance"] for run in p["runs"]}) == 2
    pooling, schedule = results["entries"]
    for row in pooling["rows"] + schedule["rows"]:
        vniah = row["cells"]["vniah"]
        assert vniah["n"] == 2 and vniah["std"] is not None and " ± " in vniah["display"]
        assert all(0.0 <= v <= 1.0 for v in vniah["values"])
    headers = {c["id"]: c["header"] for c in pooling["columns"]}
    assert headers["train_loss@s2_align"] == "train loss (s2_align)"
    assert {c["id"] for c in schedule["columns"]} >= {"train_loss@s1_long"}
    for column in ("train_loss@s2_align", "peak_memory@s2_align", "train_time", "inference_time", "text_niah"):
        cells = [row["cells"][column] for row in pooling["rows"]]
        assert all(c["n"] == 2 and c["mean"] is not None and c["mean"] >= 0 for c in cells), column
    assert all(r["cells"]["train_tokens_per_s@s1_long"]["mean"] > 0 for r in schedule["rows"])
    charts = {c["metric"] for c in results["charts"]}
    assert {"vniah", "text_niah", "train_loss@s2_align", "train_loss@s1_long"} <= charts
    assert all((result.out_dir / c["path"]).is_file() for c in results["charts"])
    rows = list(csv.DictReader(io.StringIO((result.out_dir / "results.csv").read_text())))
    assert rows[0]["V-NIAH acc (std)"] != "" and "mean ± sample std" in (result.out_dir / "report.md").read_text()


def test_more_seeds_extend_a_finished_run_without_redoing_its_seeds(tmp_path, cache, plan):
    compiled, base = plan
    out = tmp_path / "out"
    one = run_recipe_ablation(compiled, out, seeds=1, base=base, threads=1, cache_dir=cache)
    finished = _snapshot(out / "variants")
    two = run_recipe_ablation(compiled, out, seeds=2, base=base, threads=1, cache_dir=cache)
    assert sorted(two.reused) == sorted(one.records) and len(finished) == 4  # seed 0: as it was
    assert len(two.computed) == 4 and {two.matrix.run(rid).seed for rid in two.computed} == {1}
    assert {k: v for k, v in _snapshot(out / "variants").items() if k in finished} == finished
    # every row ran with the baseline's seeds: the Δ column pairs them seed by seed
    pooling = two.results["entries"][0]
    base_values = pooling["rows"][0]["cells"]["vniah"]["values"]
    for row in pooling["rows"][1:]:
        delta = row["cells"]["delta:vniah"]
        expected = [v - b for v, b in zip(row["cells"]["vniah"]["values"], base_values)]
        assert delta["n"] == 2 and delta["values"] == pytest.approx(expected) and delta["ci95"] is not None
        assert row["cells"]["verdict:vniah"]["verdict"] in ("better", "worse", "not resolved at this n")
    assert two.results["seeds"] == [0, 1]


def test_a_rerun_with_another_grid_is_a_new_run(tmp_path, cache, plan):
    """--vniah-grid frames changes the evaluated frames, hence the run key: never a stale reuse."""
    compiled, base = plan
    iso = run_recipe_ablation(compiled, tmp_path / "out", base=base, threads=1, cache_dir=cache)
    frames = run_recipe_ablation(compiled, tmp_path / "out", base=base, threads=1, cache_dir=cache, vniah_grid="frames")
    kernel_3 = next(r for r in frames.matrix.rows if r.variant.item == "average pooling with kernel size 3")
    assert frames.records[kernel_3.run_ids[0]]["vniah_grid"]["frames"] == [2, 16, 48]
    assert kernel_3.run_ids[0] in frames.computed and kernel_3.run_ids[0] not in iso.records
    assert frames.matrix.runs[0].id in frames.reused  # the baseline's frames are the same under both policies


def test_throughput_without_a_token_count_is_not_a_zero(tmp_path):
    """A stage whose trainer logged 0 tokens has no throughput: the cell gives the reason, never 0 tokens/s."""
    counted, uncounted = tmp_path / "counted", tmp_path / "uncounted"
    for step, rate in ((1, 10.0), (2, 300.0), (3, 500.0)):  # step 1 (warm-up) is left out of the mean
        append_jsonl(counted / "train" / "metrics.jsonl", {"step": step, "tokens": 64, "tokens_per_s": rate})
        append_jsonl(uncounted / "train" / "metrics.jsonl", {"step": step, "tokens": 0, "tokens_per_s": 0.0})
    assert stage_tokens_per_s(StageResult("s1_long", "k", counted, {})) == 400.0
    assert stage_tokens_per_s(StageResult("s2_align", "k", uncounted, {})) is None
    column = Column("tps", "train tokens/s", "number", lambda r: None, why=lambda r: "no token count")
    assert cell(column, [{}, {}])["display"] == "n/a: no token count"
