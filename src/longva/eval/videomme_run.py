"""The Video-MME frame-count sweep: every question at every frame count, resumable.

Per video, the frames of all counts still to do are read in one pass (the union of the uniform
samples: 8 of the 16 frames of a 16-frame sample are also in the 8-frame one, and so on) and
each is encoded once; a count's visual features are its frames' rows of that table (frames are
encoded independently, so this equals encoding the count's frames alone). Then, per count, the
video's questions share one prefilled visual prefix (`PrefixAnswerer`).

Each answered question is appended to `records.jsonl` at once (one write + fsync); a rerun
skips every (frames, question) pair already there, and a video whose pairs are all done is
not even opened.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from longva.errors import InputError
from longva.eval.videomme_data import Question
from longva.eval.videomme_scoring import (
    MAX_NEW_TOKENS,
    STOP_STRINGS,
    extract_answer,
    videomme_prompt,
)
from longva.utils.io import append_jsonl, atomic_write_json, read_jsonl

RECORDS = "records.jsonl"
RUN_FILE = "run.json"


@dataclass(frozen=True)
class SweepPlan:
    frames: tuple[int, ...]
    questions: list[Question]
    out: Path
    max_new_tokens: int = MAX_NEW_TOKENS


def parse_frames(spec: str) -> tuple[int, ...]:
    """ "8,16,32" -> (8, 16, 32): positive, distinct, ascending."""
    try:
        values = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise InputError(
            f"--frames {spec!r}: expected a comma list of frame counts, e.g. 8,16,32"
        ) from None
    if not values or values[0] < 1:
        raise InputError(f"--frames {spec!r}: expected positive frame counts, e.g. 8,16,32")
    return tuple(values)


def check_run_file(out: Path, identity: dict) -> None:
    """Refuse to mix the records of another model or setting into `out`; write it when new."""
    path = out / RUN_FILE
    if path.exists():
        import json

        held = json.loads(path.read_text())
        differs = sorted(k for k in identity if held.get(k) != identity[k])
        if differs:
            raise InputError(
                f"{out}: holds results of another run ({', '.join(differs)} differ:"
                f" {held.get(differs[0])!r} there, {identity[differs[0]]!r} now);"
                " use another --out"
            )
        return
    atomic_write_json(path, identity)


def done_pairs(out: Path) -> set[tuple[int, str]]:
    return {(int(r["frames"]), str(r["question_id"])) for r in read_jsonl(out / RECORDS)}


def by_video(questions: list[Question]) -> dict[str, list[Question]]:
    groups: dict[str, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.video_id, []).append(q)
    return groups


def todo(plan: SweepPlan) -> list[tuple[str, dict[int, list[Question]]]]:
    """[(videoID, {frames: questions still to answer})] in data order, finished videos left out."""
    done = done_pairs(plan.out)
    out = []
    for video_id, questions in by_video(plan.questions).items():
        per_count = {
            n: [q for q in questions if (n, q.question_id) not in done] for n in plan.frames
        }
        per_count = {n: qs for n, qs in per_count.items() if qs}
        if per_count:
            out.append((video_id, per_count))
    return out


def run_sweep(plan: SweepPlan, pipe, on_answer: Callable[[dict], None] | None = None) -> int:
    """Answer every (frames, question) pair not yet in `records.jsonl`; returns how many."""
    from longva.eval.prefix_answering import GenerationSettings, PrefixAnswerer

    answerer = PrefixAnswerer(pipe.model, pipe.processor)
    settings = GenerationSettings(max_new_tokens=plan.max_new_tokens, stop_strings=STOP_STRINGS)
    count = 0
    for video_id, per_count in todo(plan):
        path = next(iter(per_count.values()))[0].video_path
        for n, features, meta in count_features(pipe, path, sorted(per_count)):
            for q in per_count[n]:
                feats = answerer.features_for((video_id, n), lambda f=features: [f])
                rec = answer_question(answerer, pipe.processor, q, feats, settings)
                rec.update(frames=n, **meta)
                append_jsonl(plan.out / RECORDS, rec)
                count += 1
                if on_answer is not None:
                    on_answer(rec)
    return count


def answer_question(answerer, processor, q: Question, features, settings) -> dict:
    t0 = time.perf_counter()
    ids = _prompt_ids(processor, q)
    out = answerer.generate(ids, features, settings)
    response = out.text.strip()
    extracted = extract_answer(response)
    return {
        "question_id": q.question_id,
        "videoID": q.video_id,
        "duration": q.duration,
        "domain": q.domain,
        "sub_category": q.sub_category,
        "task_type": q.task_type,
        "answer": q.answer,
        "response": response,
        "extracted": extracted,
        "correct": extracted == q.answer,
        "prompt_tokens": out.prompt_tokens,
        "new_tokens": len(out.token_ids),
        "seconds": round(time.perf_counter() - t0, 4),
    }


def _prompt_ids(processor, q: Question):
    from longva.eval.prefix_answering import visual_prompt_ids

    return visual_prompt_ids(processor, videomme_prompt(q.question, q.options), placeholders=1)


def count_features(pipe, path: Path, counts: list[int]) -> Iterator[tuple[int, object, dict]]:
    """(frames, visual features (frames * tokens_per_frame, D), facts) per count, one decode."""
    import torch

    from longva.data.video import open_video

    source = open_video(path)
    selections = {}
    for n in counts:
        with warnings.catch_warnings(record=True):  # a short video has fewer frames: recorded below
            warnings.simplefilter("always")
            selections[n] = source.select(num_frames=n)
    union = sorted({int(i) for s in selections.values() for i in s.indices})
    table = encode_frames(pipe, source, union)  # frame index -> (t, D)
    for n in counts:
        indices = [int(i) for i in selections[n].indices]
        features = torch.cat([table[i] for i in indices])  # (n' * t, D)
        yield (
            n,
            features,
            {
                "frames_used": len(indices),
                "clamped": bool(selections[n].clamped),
                "visual_tokens": int(features.shape[0]),
            },
        )


def encode_frames(pipe, source, indices: list[int]) -> dict:
    """Frame index -> its (tokens_per_frame, D) features; frames decoded and encoded in batches."""
    import torch

    batch = pipe.model.config.vision.chunk_size
    table = {}
    for idx, frames in source.iter_frames(indices, batch_size=batch):  # (B,), (B, H, W, 3)
        pixels = pipe.processor.preprocess_frames(frames)  # (B, 3, S, S)
        with torch.inference_mode():
            encoded = pipe.model.encode_grids(pixels)  # (B, t, D)
        for j, index in enumerate(idx.tolist()):
            table[int(index)] = encoded[j]
    return table
