"""`longva niah run --model-type ... --task ...` end to end on tiny models, `compare`, errors."""

import json

import pytest
from PIL import Image

from longva.cli import main
from longva.utils.io import read_jsonl

SMALL = ["--frames", "4,8", "--depths", "0,1", "--synthetic-needles", "2", "--needle-size", "32"]


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from longva.niah.adapters.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny_qwen2_vl"), "qwen2_vl")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run(model, out, cache, *extra):
    return main(
        [
            "niah",
            "run",
            "--model",
            str(model),
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            *SMALL,
            *extra,
        ]
    )


@pytest.mark.parametrize(
    "task, mode, per_point",
    [
        ("multi", "exact", 2 * 2),
        ("distractor", "generate", 2),
        ("counting", "mc", 2 * 4),
        ("ordering", "mc", 2 * 2),
        ("single", "exact", 2),
    ],
)
def test_each_task_runs_end_to_end_on_qwen2_vl(qwen_dir, cache, tmp_path, task, mode, per_point):
    out = tmp_path / task
    extra = ["--multi-k", "2", "--max-count", "2"]
    assert run(qwen_dir, out, cache, "--task", task, "--mode", mode, *extra) == 0
    recs = list(read_jsonl(out / "cells.jsonl"))
    assert len(recs) == 4 * per_point  # 2 frame counts x 2 depths
    rows = json.loads((out / "all_accuracies.json").read_text())
    assert [(r["Num. Frame"], r["Frame Depth"]) for r in rows] == [
        (4, 0.0),
        (4, 100.0),
        (8, 0.0),
        (8, 100.0),
    ]
    assert all(0.0 <= r["Score"] <= 1.0 for r in rows)
    meta = json.loads((out / "meta.json").read_text())
    assert meta == {"label": qwen_dir.name, "model_type": "qwen2_vl", "task": task, "mode": mode}
    if mode == "mc":
        assert {r["rotation"] for r in recs} == set(range(max(r["rotation"] for r in recs) + 1))
        assert all(r["answer"] in "ABCD" for r in recs)
    if mode == "generate":
        assert all(isinstance(r["pred"], str) for r in recs)
    # a rerun resumes: nothing new computed, same records
    assert run(qwen_dir, out, cache, "--task", task, "--mode", mode, *extra) == 0
    assert len(list(read_jsonl(out / "cells.jsonl"))) == len(recs)


def test_compare_writes_table_json_and_figures(qwen_dir, longva_dir, cache, tmp_path, capsys):
    runs = []
    for model in (qwen_dir, longva_dir):
        for task in ("single", "counting"):
            out = tmp_path / f"{model.name}_{task}"
            assert run(model, out, cache, "--task", task, "--label", f"m{len(runs) // 2}") == 0
            runs.append(out)
    dest = tmp_path / "cmp"
    assert main(["niah", "compare", *map(str, runs), "--out", str(dest)]) == 0
    table = (dest / "compare.md").read_text().splitlines()
    assert table[0] == "| model | task | average | 4 fr | 8 fr |" and len(table) == 6
    data = json.loads((dest / "compare.json").read_text())
    assert [(r["model"], r["task"]) for r in data["runs"]] == [
        ("m0", "single"),
        ("m0", "counting"),
        ("m1", "single"),
        ("m1", "counting"),
    ]
    for r in data["runs"]:
        scores = [json.loads((tmp_path / r["run"] / "all_accuracies.json").read_text())]
        assert r["average"] == pytest.approx(sum(x["Score"] for x in scores[0]) / len(scores[0]))
    assert Image.open(dest / "compare.png").size[0] > Image.open(dest / "compare.png").size[1]
    assert len(list((dest / "heatmaps").glob("*.png"))) == 4
    assert "| m1 | counting |" in capsys.readouterr().out


def test_model_type_flag_overrides_detection_and_is_checked(qwen_dir, cache, tmp_path, capsys):
    assert run(qwen_dir, tmp_path / "a", cache, "--model-type", "qwen2_vl") == 0
    assert run(qwen_dir, tmp_path / "b", cache, "--model-type", "gpt9") == 2
    assert "--model-type 'gpt9' is unknown" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case", ["no_json", "unknown_task", "undetectable", "odd_frames", "mc_without_options"]
)
def test_bad_input_is_one_line_and_exit_2(qwen_dir, cache, tmp_path, capsys, case):
    model, extra = qwen_dir, []
    if case == "no_json":
        folder = tmp_path / "needles"
        folder.mkdir()
        Image.new("RGB", (8, 8)).save(folder / "a.png")
        extra = ["--task", "counting", "--needles", str(folder)]
        expected = "has no task.json"
    elif case == "unknown_task":
        extra, expected = ["--task", "sorting"], "--task 'sorting' is unknown"
    elif case == "undetectable":
        model = tmp_path / "bert"
        model.mkdir()
        (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
        expected = "cannot detect the model type from config.json (model_type 'bert')"
    elif case == "odd_frames":
        extra, expected = ["--frames", "4,5"], "--frames 5: this model reads frames in groups of 2"
    else:
        folder = tmp_path / "needles"
        folder.mkdir()
        Image.new("RGB", (8, 8)).save(folder / "a.png")
        rows = [{"image": "a.png", "question": "q", "answer": "x"}]
        (folder / "task.json").write_text(json.dumps({"task": "single", "items": rows}))
        extra, expected = ["--needles", str(folder), "--mode", "mc"], "--mode mc needs options"
    assert run(model, tmp_path / "out", cache, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and expected in err and "\n" not in err, err


def test_frame_folder_and_video_haystacks_share_embeddings_across_tasks(qwen_dir, tmp_path):
    import numpy as np

    from longva.data.video_writer import write_video

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(8)]
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(frames / f"{i:04d}.png")
    video = write_video(tmp_path / "hay.mp4", pictures * 2, fps=2)
    cache = tmp_path / "cache"

    def chunks():
        return sorted(p.relative_to(cache) for p in cache.rglob("frames_*.safetensors"))

    assert run(qwen_dir, tmp_path / "a", cache, "--haystack", str(frames), "--task", "single") == 0
    after_first = chunks()
    assert (
        run(qwen_dir, tmp_path / "b", cache, "--haystack", str(frames), "--task", "ordering") == 0
    )
    new = set(chunks()) - set(after_first)
    # the second task encodes only its own needles (one unit each), never the haystack again
    assert new and all(p.name == "frames_00000000_00000001.safetensors" for p in new)
    assert run(qwen_dir, tmp_path / "c", cache, "--haystack", str(video), "--fps", "2") == 0
    assert (
        json.loads((tmp_path / "c" / "run.json").read_text())["adapter"]["seconds_per_grid"] == 1.0
    )
    assert len(list(read_jsonl(tmp_path / "c" / "cells.jsonl"))) == 8
