"""A local Video-MME copy in the official layout: questions (parquet) and videos.

The layout of `lmms-lab/Video-MME` with its video zips unpacked (what lmms-eval reads too):

    DIR/videomme/test-00000-of-00001.parquet   one row per question: video_id, duration
                                               (short/medium/long), domain, sub_category, url,
                                               videoID, question_id, task_type, question,
                                               options (["A. ...", "B. ...", ...]), answer ("A")
    DIR/data/<videoID>.mp4                     (also .MP4 / .mkv, as lmms-eval accepts)

Everything is checked before any model is loaded: a missing folder, file or column, or a
question whose video is absent, is one line naming the path and the expected layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from longva.errors import InputError

PARQUET_GLOB = "videomme/test-*.parquet"
VIDEO_DIRS = ("data", "videos", "video")  # lmms-eval's first; other copies use the others
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv")
REQUIRED_COLUMNS = (
    "videoID",
    "duration",
    "domain",
    "sub_category",
    "task_type",
    "question_id",
    "question",
    "options",
    "answer",
)
DURATIONS = ("short", "medium", "long")


def expected_layout(data_dir: str | os.PathLike) -> str:
    d = Path(data_dir)
    return (
        f"expected the official Video-MME layout: {d}/{PARQUET_GLOB} (columns "
        f"{', '.join(REQUIRED_COLUMNS)}) and videos as {d}/data/<videoID>.mp4"
        " (`longva eval videomme make-synthetic --out DIR` writes a small copy)"
    )


@dataclass(frozen=True)
class Question:
    question_id: str
    video_id: str  # the `videoID` column: the video's file name
    duration: str  # short | medium | long
    domain: str
    sub_category: str
    task_type: str
    question: str
    options: tuple[str, ...]  # "A. ...", "B. ...", ...
    answer: str  # a letter
    video_path: Path

    def doc(self) -> dict:
        """The row as lmms-eval's videomme utilities see it."""
        return {
            "question_id": self.question_id,
            "videoID": self.video_id,
            "duration": self.duration,
            "domain": self.domain,
            "sub_category": self.sub_category,
            "task_type": self.task_type,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
        }


def find_parquet(data_dir: Path) -> list[Path]:
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: Video-MME folder not found; {expected_layout(data_dir)}")
    files = sorted(data_dir.glob(PARQUET_GLOB))
    if not files:
        raise InputError(
            f"{data_dir}: no question file {PARQUET_GLOB}; {expected_layout(data_dir)}"
        )
    return files


def find_video_dir(data_dir: Path) -> Path:
    for name in VIDEO_DIRS:
        if (data_dir / name).is_dir():
            return data_dir / name
    raise InputError(
        f"{data_dir}: no videos folder ({'/, '.join(VIDEO_DIRS)}/); {expected_layout(data_dir)}"
    )


def video_file(video_dir: Path, video_id: str) -> Path | None:
    for suffix in VIDEO_SUFFIXES:
        path = video_dir / f"{video_id}{suffix}"
        if path.is_file():
            return path
    return None


def read_rows(files: list[Path]) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading Video-MME needs pyarrow; install it with pip install -e '.[data]'"
        ) from None
    rows: list[dict] = []
    for path in files:
        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise InputError(
                f"{path}: not a readable parquet file ({type(e).__name__}); "
                f"{expected_layout(path.parent.parent)}"
            ) from None
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {', '.join(missing)}; "
                f"{expected_layout(path.parent.parent)}"
            )
        rows += table.to_pylist()
    return rows


def load_questions(
    data_dir: str | os.PathLike, durations: tuple[str, ...] | None = None, limit: int | None = None
) -> list[Question]:
    """Every question (optionally only some durations, the first `limit`), videos checked."""
    data_dir = Path(data_dir)
    rows = read_rows(find_parquet(data_dir))
    video_dir = find_video_dir(data_dir)
    if durations:
        rows = [r for r in rows if r["duration"] in durations]
    rows = rows[:limit] if limit is not None else rows
    questions, absent = [], []
    for row in rows:
        path = video_file(video_dir, str(row["videoID"]))
        if path is None:
            absent.append(str(row["videoID"]))
            continue
        questions.append(_question(row, path))
    if absent:
        raise InputError(
            f"{video_dir}: {len(set(absent))} video(s) missing, e.g. {absent[0]}.mp4; "
            f"{expected_layout(data_dir)}"
        )
    if not questions:
        raise InputError(f"{data_dir}: no questions selected; {expected_layout(data_dir)}")
    return questions


def _question(row: dict, path: Path) -> Question:
    options = row["options"]
    if not isinstance(options, list | tuple) or not options:
        raise InputError(
            f"question {row['question_id']}: options {options!r}; expected a list"
            " like ['A. ...', 'B. ...', 'C. ...', 'D. ...']"
        )
    return Question(
        str(row["question_id"]),
        str(row["videoID"]),
        str(row["duration"]),
        str(row["domain"]),
        str(row["sub_category"]),
        str(row["task_type"]),
        str(row["question"]),
        tuple(str(o) for o in options),
        str(row["answer"]).strip(),
        path,
    )


def available(data_dir: str | os.PathLike) -> bool:
    """Whether `data_dir` holds a usable Video-MME copy: question file, columns, every video."""
    try:
        load_questions(data_dir)
    except InputError:
        return False
    return True
