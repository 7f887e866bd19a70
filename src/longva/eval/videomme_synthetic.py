"""A small synthetic Video-MME copy in the official layout, for tests and the docs.

Each video is a few solid-colour segments; its three questions (Video-MME has three per video)
are answerable from the frames: the colour shown longest (Attribute Perception), the colour
shown first (Temporal Perception) and the number of colours (Counting Problem). Durations are
frame counts (short < medium < long), domains and sub-categories are Video-MME's own names, so
lmms-eval's videomme scorer accepts the rows as they are.

    DIR/videomme/test-00000-of-00001.parquet
    DIR/data/<videoID>.mp4
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

from longva.eval.videomme_data import PARQUET_GLOB

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (230, 220, 40),
    "purple": (140, 40, 170),
    "orange": (240, 140, 20),
    "white": (240, 240, 240),
    "black": (15, 15, 15),
}
FRAMES = {"short": 16, "medium": 48, "long": 128}
DOMAINS = [
    ("Knowledge", "Humanity & History"),
    ("Film & Television", "Animation"),
    ("Sports Competition", "Football"),
    ("Artistic Performance", "Stage Play"),
    ("Life Record", "Daily Life"),
    ("Multilingual", "Multilingual"),
]
LETTERS = "ABCD"
PARQUET_NAME = PARQUET_GLOB.replace("*", "00000-of-00001")


def write_synthetic_videomme(
    out: str | os.PathLike,
    videos_per_duration: int = 2,
    seed: int = 0,
    size: tuple[int, int] = (48, 36),
    fps: float = 2.0,
) -> Path:
    """Write the videos and the question file under `out`; returns the parquet path."""
    from longva.data.video_writer import write_video

    out = Path(out)
    rng = random.Random(seed)
    rows = []
    for d_index, duration in enumerate(FRAMES):
        for k in range(videos_per_duration):
            number = d_index * videos_per_duration + k + 1
            video_id = f"syn{duration[0]}{k:03d}{seed:04d}"
            segments = _segments(rng, FRAMES[duration])
            frames = [
                np.full((size[1], size[0], 3), COLOURS[c], np.uint8)
                for c, length in segments
                for _ in range(length)
            ]
            write_video(out / "data" / f"{video_id}.mp4", frames, fps=fps, gop=8)
            domain, sub = DOMAINS[(number - 1) % len(DOMAINS)]
            base = {
                "video_id": f"{number:03d}",
                "duration": duration,
                "domain": domain,
                "sub_category": sub,
                "url": f"synthetic://{video_id}",
                "videoID": video_id,
            }
            rows += [
                dict(base, **q, question_id=f"{number:03d}-{i + 1}")
                for i, q in enumerate(_questions(rng, segments))
            ]
    return _write_parquet(out / PARQUET_NAME, rows)


def _segments(rng: random.Random, total: int) -> list[tuple[str, int]]:
    """2-4 distinct colours with lengths summing to `total`; one of them strictly the longest."""
    n = rng.randint(2, 4)
    colours = rng.sample(list(COLOURS), n)
    longest = total // 2 + 1
    rest = total - longest
    cuts = sorted(rng.sample(range(1, rest), n - 2)) if n > 2 else []
    others = [b - a for a, b in zip([0, *cuts], [*cuts, rest])]
    lengths = others[:]
    lengths.insert(rng.randrange(n), longest)
    return list(zip(colours, lengths))


def _questions(rng: random.Random, segments: list[tuple[str, int]]) -> list[dict]:
    longest = max(segments, key=lambda s: s[1])[0]
    count = str(len(segments))
    return [
        _multiple_choice(
            rng,
            "Which colour fills the screen for the longest time in the video?",
            longest,
            list(COLOURS),
            "Attribute Perception",
        ),
        _multiple_choice(
            rng,
            "Which colour is shown first in the video?",
            segments[0][0],
            list(COLOURS),
            "Temporal Perception",
        ),
        _multiple_choice(
            rng,
            "How many different colours are shown in the video?",
            count,
            ["1", "2", "3", "4", "5", "6"],
            "Counting Problem",
        ),
    ]


def _multiple_choice(
    rng: random.Random, question: str, right: str, pool: list[str], task: str
) -> dict:
    choices = [right] + rng.sample([p for p in pool if p != right], 3)
    rng.shuffle(choices)
    options = [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return {
        "task_type": task,
        "question": question,
        "options": options,
        "answer": LETTERS[choices.index(right)],
    }


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from longva.utils.io import atomic_path

    columns = [
        "video_id",
        "duration",
        "domain",
        "sub_category",
        "url",
        "videoID",
        "question_id",
        "task_type",
        "question",
        "options",
        "answer",
    ]
    schema = pa.schema(
        [(c, pa.list_(pa.string()) if c == "options" else pa.string()) for c in columns]
    )
    table = pa.Table.from_pylist([{c: r[c] for c in columns} for r in rows], schema=schema)
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)
    return path
