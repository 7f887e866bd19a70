"""A V-NIAH case from frames in memory: what the CLI builds, without files or the cache.

`build_case(adapter, tasks, grid, haystack_frames, needle_frames)` encodes the haystack and the
needles through the adapter, tokenises the task, builds cells and sources with the task
builder, and keeps the raw inputs (frames, token ids) so `native.native_evaluate` can rebuild
every cell for the model's own forward. The tests and the benchmark use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from longva.niah.embedding_cache import FrameStore
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid
from longva.niah.sequence import Source
from longva.niah.tasks.builder import HAY, POST, PRE, build_vniah
from longva.niah.tasks.prompts import safe_tokenize, tokenize_items
from longva.niah.tasks.spec import TaskSet


def encode_case(adapter, hay_frames: Sequence, needles: Sequence[Sequence]):
    """(haystack (U, tpu, D), [needle (n, tpu, D)]) through the adapter's vision path."""
    return adapter.encode_units(list(hay_frames)), [adapter.encode_units(list(f)) for f in needles]


@dataclass
class Case:
    cells: list[Cell]
    sources: dict[str, Source]
    raw: dict[str, Sequence]  # source name -> token ids or frames (for the native forward)


def build_case(
    adapter,
    tasks: TaskSet,
    grid: Grid,
    haystack_frames: Sequence[np.ndarray],
    needle_frames: Sequence[Sequence[np.ndarray]],
    mode: str = "exact",
    embeddings: tuple | None = None,
) -> Case:
    """haystack_frames: at least grid.max_length frames; needle_frames[v]: visual v's frames;
    embeddings: (haystack (U, tpu, D), [visual (n, tpu, D)]) already encoded, or None."""
    adapter.fit_frames(np.asarray(haystack_frames[0]).shape[:2])
    fpu = adapter.frames_per_unit
    hay_frames = list(haystack_frames[: grid.max_length])
    needles = [adapter.unit_frames(frames) for frames in needle_frames]
    if embeddings is None:
        embeddings = encode_case(adapter, hay_frames, needles)
    hay, visuals = FrameStore.from_tensor(embeddings[0]), embeddings[1]
    answer_ids = lambda text: safe_tokenize(adapter.tokenizer, text)  # noqa: E731
    items = tokenize_items(tasks, adapter.question_ids, answer_ids, mode)
    prompt = adapter.prompt
    cells, sources = build_vniah(
        grid,
        items,
        prompt.pre_ids,
        prompt.post_ids,
        hay,
        visuals,
        adapter.embed_text,
        adapter.tokens_per_unit,
        fpu,
        prompt.tail,
    )
    raw: dict[str, Sequence] = {PRE: prompt.pre_ids, POST: prompt.post_ids, HAY: hay_frames}
    for v, frames in enumerate(needles):
        raw[f"needle:{v}"] = frames
    queries = [q for item in items for q in item.queries]
    for c, q in enumerate(queries):
        raw[f"question:{c}"], raw[f"answer:{c}"] = q.question_ids, q.answer_ids
    return Case(cells, sources, raw)
