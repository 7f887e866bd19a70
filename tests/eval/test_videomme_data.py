"""The official layout: reading it, and one-line errors naming the path and the layout."""

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from longva.errors import InputError
from longva.eval.videomme_data import DURATIONS, available, load_questions
from longva.eval.videomme_synthetic import COLOURS, FRAMES, PARQUET_NAME


def test_synthetic_copy_reads_back(videomme_dir):
    questions = load_questions(videomme_dir)
    assert len(questions) == 9 and {q.duration for q in questions} == set(DURATIONS)
    assert all(
        q.video_path.is_file() and q.answer in "ABCD" and len(q.options) == 4 for q in questions
    )
    assert [q.question_id for q in questions[:3]] == ["001-1", "001-2", "001-3"]
    assert available(videomme_dir)
    assert len(load_questions(videomme_dir, durations=("long",))) == 3
    assert len(load_questions(videomme_dir, limit=2)) == 2


def test_synthetic_answers_match_the_video(videomme_dir):
    """The answer key is right: the first frame's colour is the 'shown first' answer."""
    from longva.data.video import load_video

    for q in load_questions(videomme_dir):
        clip = load_video(q.video_path, num_frames=FRAMES[q.duration])
        assert len(clip.frames) == FRAMES[q.duration]
        if q.task_type == "Temporal Perception":
            first = clip.frames[0].reshape(-1, 3).mean(0)
            nearest = min(COLOURS, key=lambda c: sum((first - COLOURS[c]) ** 2))
            answer = q.options["ABCD".index(q.answer)]
            assert answer == f"{q.answer}. {nearest}"


def _message(call):
    with pytest.raises(InputError) as err:
        call()
    text = str(err.value)
    assert "\n" not in text and "videomme/test-*.parquet" in text and "<videoID>.mp4" in text
    return text


def test_missing_data_names_the_path_and_the_layout(tmp_path, videomme_dir):
    assert str(tmp_path / "nope") in _message(lambda: load_questions(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    assert "no question file" in _message(lambda: load_questions(tmp_path / "empty"))
    assert not available(tmp_path / "empty") and not available(tmp_path / "nope")

    copy = tmp_path / "copy"
    shutil.copytree(videomme_dir, copy)
    video = sorted((copy / "data").iterdir())[0]
    video.unlink()
    assert video.stem in _message(lambda: load_questions(copy))
    assert not available(copy)

    shutil.rmtree(copy / "data")
    assert "no videos folder" in _message(lambda: load_questions(copy))


def test_missing_column_is_named(tmp_path, videomme_dir):
    copy = tmp_path / "copy"
    shutil.copytree(videomme_dir, copy)
    table = pq.read_table(copy / PARQUET_NAME).drop_columns(["task_type"])
    pq.write_table(table, copy / PARQUET_NAME)
    assert "task_type" in _message(lambda: load_questions(copy))
    (copy / PARQUET_NAME).write_bytes(b"not parquet")
    assert "not a readable parquet" in _message(lambda: load_questions(copy))
    pq.write_table(pa.table({"x": [1]}), copy / PARQUET_NAME)
    assert not available(copy)
