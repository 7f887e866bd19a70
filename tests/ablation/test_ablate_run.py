"""`longva ablate PLAN --quick`: both seed plans run end to end through the CLI, on a tiny recipe.

Each seed plan runs once per module (a module fixture, its own output folder and stage cache);
the tests then read what it wrote: tables, CSV, charts, provenance and the stage cache.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from ablate_run_helpers import tiny_base_set
from ablation_fixtures import SEED_000, SEED_001

from longva.cli import main
from longva.recipes.ablation.visual_tokens import iso_token_frames, vniah_grid

BASE_FRAMES = [2, 16, 48]  # ablate_run_helpers.TINY
EXTERNAL_001 = ("vqav2", "gqa", "textvqa", "refcoco", "ocid_ref", "pope", "agieval", "arc_easy")


def _ablate(plan: Path, out: Path) -> tuple[dict, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            ["ablate", str(plan), "--quick", "--threads", "1", "--out", str(out), "--base-set", tiny_base_set()]
        )
    assert code == 0
    return json.loads((out / "results.json").read_text()), stdout.getvalue()


@pytest.fixture(scope="module")
def seed_000(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablate") / "seed_000"
    results, printed = _ablate(SEED_000, out)
    return out, results, printed


@pytest.fixture(scope="module")
def seed_001(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablate") / "seed_001"
    results, printed = _ablate(SEED_001, out)
    return out, results, printed


def _rows(results: dict) -> dict[tuple[str, str], dict]:
    return {(e["name"], r["variant"]): r for e in results["entries"] for r in e["rows"]}


def _assert_vniah_everywhere(results: dict) -> None:
    for (entry, variant), row in _rows(results).items():
        mean = row["cells"]["vniah"]["mean"]
        assert isinstance(mean, float) and 0.0 <= mean <= 1.0, (entry, variant, row["cells"]["vniah"])


def test_seed_000_runs_every_variant_with_vniah_and_marks_video_mme_unavailable(seed_000):
    out, results, printed = seed_000
    assert [len(e["rows"]) for e in results["entries"]] == [4, 4]  # baseline + 3 pooling, baseline + 3 schedules
    assert [e["rows"][0]["variant"] for e in results["entries"]] == ["(baseline)", "(baseline)"]
    _assert_vniah_everywhere(results)
    for row in _rows(results).values():
        video_mme = row["cells"]["status:videomme(frames=128,subtitles=False)"]
        assert video_mme["display"].startswith("not available: needs dataset videomme at ")
        assert "mean" not in video_mme  # a status, never a number
        assert 0.0 <= row["cells"]["video_qa_proxy"]["mean"] <= 1.0
    headers = [c["header"] for c in results["entries"][0]["columns"]]
    assert "video_qa_proxy (synthetic proxy, NOT Video-MME performance)" in headers
    assert not any(h.startswith("Video-MME") and "proxy" in h for h in headers)  # the proxy never wears its name
    assert "| (baseline) |" in printed and "not available: needs dataset videomme" in printed


def test_seed_000_pooling_variants_evaluate_on_an_iso_token_grid(seed_000):
    _, results, _ = seed_000
    rows = _rows(results)
    pool = "Pooling Strategy Ablation"
    expected = {"(baseline)": (9, BASE_FRAMES), "max pooling": (9, BASE_FRAMES),
                "average pooling with kernel size 3": (4, [5, 36, 108]),
                "average pooling with kernel size 5": (1, [18, 144, 432])}
    for variant, (tpf, frames) in expected.items():
        cells = rows[pool, variant]["cells"]
        assert cells["tokens_per_frame"]["value"] == str(tpf)
        assert cells["vniah_frames"]["value"] == ", ".join(map(str, frames))
        assert frames == iso_token_frames(BASE_FRAMES, 9, tpf)


def test_s0_text_is_computed_once_across_a_plan(seed_000, seed_001):
    for out, results, _ in (seed_000, seed_001):
        assert len(list((out / "cache").glob("s0_text-*"))) == 1
        s0_keys = {run["stages"]["s0_text"] for p in results["provenance"] for run in p["runs"]}
        assert len(s0_keys) == 1
        computed_s0 = [rid for rid, r in results["runs"].items() if r["stages"]["s0_text"]["computed"]]
        assert computed_s0 == [next(iter(results["runs"]))]  # the baseline (first run) only


def test_pooling_reuses_both_text_lms_and_s1_schedules_reuse_s0(seed_000):
    _, results, _ = seed_000
    runs = results["runs"]
    baseline = runs[results["provenance"][0]["runs"][0]["id"]]["stages"]
    for p in results["provenance"][1:]:
        stages = runs[p["runs"][0]["id"]]["stages"]
        assert not stages["s0_text"]["computed"] and stages["s0_text"]["key"] == baseline["s0_text"]["key"]
        if p["entry"] == "Pooling Strategy Ablation":
            assert not stages["s1_long"]["computed"] and stages["s1_long"]["key"] == baseline["s1_long"]["key"]
            assert stages["s2_align"]["computed"]
        else:
            assert stages["s1_long"]["computed"] and stages["s1_long"]["key"] != baseline["s1_long"]["key"]


def test_seed_001_projectors_and_token_counts(seed_001):
    out, results, _ = seed_001
    assert [len(e["rows"]) for e in results["entries"]] == [4, 5]  # baseline + 3 projectors, baseline + 4 counts
    _assert_vniah_everywhere(results)
    for entry in results["entries"]:
        assert any("V-NIAH accuracy is reported although" in n for n in entry["notes"])
        for row in entry["rows"]:
            for metric in EXTERNAL_001:
                text = row["cells"][f"status:{metric}"]["display"]
                assert text.startswith("not available: needs dataset ") and f" at {Path('data') / metric}" in text
    tokens = {r["variant"]: r["cells"] for r in results["entries"][1]["rows"]}
    # "(currently 729)" vs this base's 9: 256..1536 run at the same ratios as 4, 6, 12, 18 tokens per
    # frame; V-NIAH frames are base frames x 9 / tokens (iso-tokens), e.g. 48 x 9 / 18 = 24
    for count, ours, frames in ((256, 4, "5, 36, 108"), (512, 6, "3, 24, 72"), (1024, 12, "2, 12, 36"),
                                (1536, 18, "1, 8, 24")):
        assert tokens[str(count)]["tokens_per_frame"]["value"] == str(ours)
        assert tokens[str(count)]["vniah_frames"]["value"] == frames
    assert any(n.startswith("1536: tokens 1536 on the plan's scale") for n in results["entries"][1]["notes"])


def test_report_files(seed_001):
    out, results, printed = seed_001
    report = (out / "report.md").read_text()
    for chart in results["charts"]:
        assert (out / chart["path"]).is_file() and f"]({chart['path']})" in report
    assert {c["metric"] for c in results["charts"]} == {"vniah"}  # the only numeric metric of seed 001
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert len(rows) == 9 and rows[0]["variant"] == "(baseline)"
    assert all(0.0 <= float(r["V-NIAH acc"]) <= 1.0 for r in rows)
    assert rows[0]["VQAv2 [vqav2]"].startswith("not available: needs dataset vqav2")
    assert len(list((out / "variants").glob("*.json"))) == 8  # 1 baseline + 7 variants
    assert "## Image Token Length Ablation" in printed


def test_vniah_grid_policies():
    assert iso_token_frames([8, 32, 128], 9, 4) == [18, 72, 288]
    assert iso_token_frames([8, 32, 128], 9, 256) == [1, 5]  # 0.28 -> 1, 1.125 -> 1, 4.5 -> 5
    assert vniah_grid("frames", [8, 32], 9, 1536).frames == [8, 32]
    assert vniah_grid("iso-tokens", [8, 32], 9, 9).frames == [8, 32]
    assert vniah_grid("iso-tokens", [32, 8], 9, 1536).note.endswith("longer than the base's")
    assert vniah_grid("iso-tokens", [8], 9, 1, explicit=True).policy == "explicit"


def test_provenance_traces_each_variant(seed_000):
    _, results, _ = seed_000
    p = next(x for x in results["provenance"] if x["item"] == "average pooling with kernel size 5")
    assert p["raw"] == "average pooling with kernel size 5" and p["line"] == 33
    assert p["recogniser"] and p["knob"] == "vision.pooling"
    assert p["overrides"] == {"model.pooling.kind": "avg", "model.pooling.kernel": 5, "model.pooling.stride": 5}
    assert p["stages_rerun"] == ["s2_align", "eval"] and p["tokens_per_frame"] == 1
    assert set(p["runs"][0]["stages"]) >= {"s0_text", "s1_long", "s2_align", "eval_vniah"}
    assert p["vniah_grid"]["frames"] == [18, 144, 432] and "iso-token" in p["vniah_grid"]["note"]
