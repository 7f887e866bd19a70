"""`longva eval videomme`: the sweep, its report, resume, frame reuse, and one-line errors."""

import json

import numpy as np
import pytest
import torch

from longva.cli import main
from longva.data.video import load_video
from longva.eval.prefix_answering import GenerationSettings, PrefixAnswerer, visual_prompt_ids
from longva.eval.videomme_data import load_questions
from longva.eval.videomme_run import RECORDS, SweepPlan, run_sweep
from longva.eval.videomme_scoring import STOP_STRINGS, extract_answer, videomme_prompt
from longva.utils.io import read_jsonl


def _timeless(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "seconds"}


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _videomme(capsys, model_dir, data, out, frames="4,8", *extra):
    return _run(
        capsys,
        "eval",
        "videomme",
        "--model",
        model_dir,
        "--data",
        data,
        "--frames",
        frames,
        "--out",
        out,
        "--device",
        "cpu",
        *extra,
    )


def test_make_synthetic_writes_the_official_layout(capsys, tmp_path):
    code, out, err = _run(
        capsys,
        "eval",
        "videomme",
        "make-synthetic",
        "--out",
        tmp_path / "vm",
        "--videos-per-duration",
        1,
    )
    assert code == 0, err
    assert (tmp_path / "vm/videomme/test-00000-of-00001.parquet").is_file()
    assert (
        len(list((tmp_path / "vm/data").glob("*.mp4"))) == 3
        and len(load_questions(tmp_path / "vm")) == 9
    )


def test_sweep_writes_table_json_plot_and_resumes(capsys, tmp_path, model_dir, videomme_dir):
    out = tmp_path / "run"
    code, text, err = _videomme(capsys, model_dir, videomme_dir, out, "4")
    assert code == 0, err
    first = list(read_jsonl(out / RECORDS))
    assert len(first) == 9 and {r["frames"] for r in first} == {4}

    # Extending the sweep answers only the new count; the old records stay as they were.
    code, text, err = _videomme(capsys, model_dir, videomme_dir, out, "4,8")
    assert code == 0, err
    records = list(read_jsonl(out / RECORDS))
    assert len(records) == 18 and records[:9] == first

    # A torn last line (a kill mid-write) is redone; nothing else is.
    lines = (out / RECORDS).read_text().splitlines(keepends=True)
    (out / RECORDS).write_text("".join(lines[:-1]) + lines[-1][:20])
    code, text, err = _videomme(capsys, model_dir, videomme_dir, out, "4,8")
    assert code == 0, err
    redone = list(read_jsonl(out / RECORDS))
    assert len(redone) == 18 and _timeless(redone[-1]) == _timeless(records[-1])

    results = json.loads((out / "results.json").read_text())
    assert results["frames"] == [4, 8]
    for n in ("4", "8"):
        block = results["by_frames"][n]
        assert list(block["by_duration"]) == ["short", "medium", "long"]
        assert block["overall"]["questions"] == 9
        assert set(block["by_task_type"]) == {
            "Attribute Perception",
            "Temporal Perception",
            "Counting Problem",
        }
        rows = [r for r in redone if r["frames"] == int(n)]
        assert block["overall"]["correct"] == sum(r["extracted"] == r["answer"] for r in rows)
        assert block["overall"]["answered"] == sum(bool(r["extracted"]) for r in rows)
    for r in redone:
        assert r["extracted"] == extract_answer(r["response"]) and r["correct"] == (
            r["extracted"] == r["answer"]
        )
        assert (
            r["frames_used"] == r["frames"] and r["visual_tokens"] == 4 * r["frames"]
        )  # 4 tokens/frame
    assert "| frames | overall | short | medium | long |" in text and "## by task type" in text
    assert (out / "accuracy_vs_frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_frame_is_encoded_once_and_answers_equal_the_plain_path(tmp_path, pipe, videomme_dir):
    """Counts 4, 8, 16 of a 16-frame video share frames: the union is encoded, once. The answers
    equal those of the lmms-eval plugin's path (load_video(n) -> encode_visual -> answer)."""
    questions = load_questions(videomme_dir, durations=("short",))
    encoded = []
    original = pipe.model.encode_grids
    pipe.model.encode_grids = lambda px, *a, **k: (
        encoded.append(px.shape[0]) or original(px, *a, **k)
    )
    try:
        run_sweep(SweepPlan((4, 8, 16), questions, tmp_path), pipe)
    finally:
        del pipe.model.encode_grids
    union = set()
    for n in (4, 8, 16):
        union |= set(np.linspace(0, 15, n, dtype=int).tolist())
    assert sum(encoded) == len(union) == 16  # not 4 + 8 + 16 = 28

    settings = GenerationSettings(max_new_tokens=16, stop_strings=STOP_STRINGS)
    for r in read_jsonl(tmp_path / RECORDS):
        q = next(q for q in questions if q.question_id == r["question_id"])
        visual = pipe.processor.preprocess_video(
            load_video(q.video_path, num_frames=r["frames"]).frames
        )
        with torch.inference_mode():
            features = [pipe.model.encode_visual(visual)]
        ids = visual_prompt_ids(pipe.processor, videomme_prompt(q.question, q.options), 1)
        alone = PrefixAnswerer(pipe.model, pipe.processor).generate(ids, features, settings)
        assert alone.text.strip() == r["response"]


def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path, model_dir, videomme_dir):
    code, out, err = _videomme(capsys, model_dir, tmp_path / "absent", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and str(tmp_path / "absent") in err
    assert "videomme/test-*.parquet" in err and "data/<videoID>.mp4" in err
    code, out, err = _videomme(capsys, model_dir, videomme_dir, tmp_path / "o", "8,x")
    assert code == 2 and "--frames" in err and err.count("\n") == 1
    code, out, err = _videomme(
        capsys, model_dir, videomme_dir, tmp_path / "o", "8", "--durations", "huge"
    )
    assert code == 2 and "--durations" in err
    code, out, err = _videomme(capsys, tmp_path / "no_model", videomme_dir, tmp_path / "o", "8")
    assert code == 2 and "no_model" in err and err.count("\n") == 1


def test_an_output_folder_of_another_run_is_refused(capsys, tmp_path, model_dir, videomme_dir):
    out = tmp_path / "o"
    code, _, err = _videomme(capsys, model_dir, videomme_dir, out, "4", "--limit", 1)
    assert code == 0, err
    code, _, err = _videomme(
        capsys, model_dir, videomme_dir, out, "4", "--limit", 1, "--max-new-tokens", 5
    )
    assert code == 2 and "max_new_tokens" in err and str(out) in err


@pytest.mark.parametrize("frames", [40])
def test_more_frames_than_the_video_has_are_clamped_and_recorded(
    tmp_path, pipe, videomme_dir, frames
):
    questions = load_questions(videomme_dir, durations=("short",), limit=1)
    run_sweep(SweepPlan((frames,), questions, tmp_path), pipe)
    (record,) = read_jsonl(tmp_path / RECORDS)
    assert record["clamped"] is True and record["frames_used"] == 16 and record["frames"] == frames
