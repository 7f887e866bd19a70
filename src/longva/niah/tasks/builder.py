"""THE V-NIAH task builder: tokenised task items + haystack + needles -> cells and sources.

Used by `longva niah` for every task family and model, and by anyone with embeddings in hand
(the toy recipe). Sequence of a cell (item i, query q, T frames, depth d), U = T / frames_per_unit
haystack units, inserts placed by `spec.placements(inserts, d, U)`:

    pre + hay[0:k1] + needle_a + hay[k1:k2] + needle_b + ... + hay[kn:U] + [tail] + question_q
        + post + [answer_q]

With one insert per item and one query (`single_items`), this is the original's layout (dossier
§3.5): pre + hay[0:k] + needle_n + hay[k:T] + question_n + post, k = int(d * T); the needle is
inserted (T + 1 visual frames), not substituted. Source names: `pre`, `post`,
`hay`, `tail`, `needle:v` (visual v), `question:c`, `answer:c` (c = the query's index among
all queries of a grid point, also the cell key's first field and the record's `needle`).
Every query of an item shares the item's video, so with trie order its KV cache is computed
once per (item, T, d) and only the question is prefilled per query.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from longva.errors import InputError
from longva.niah.embedding_cache import FrameStore
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid
from longva.niah.results import cell_key
from longva.niah.sequence import EmbedFn, FrameSource, Run, Source, TensorSource, interleave, normalize, text_source
from longva.niah.tasks.prompts import ItemPrompt, NeedlePrompt, Query
from longva.niah.tasks.spec import Insert, placements

PRE, POST, HAY, TAIL = "pre", "post", "hay", "tail"


def build_vniah(
    grid: Grid,
    items: Sequence[ItemPrompt],
    pre_ids: Sequence[int],
    post_ids: Sequence[int],
    haystack: FrameStore | Source,
    visuals: Sequence[torch.Tensor | Source],
    embed_fn: EmbedFn,
    tokens_per_unit: int,
    frames_per_unit: int = 1,
    tail: torch.Tensor | None = None,
) -> tuple[list[Cell], dict[str, Source]]:
    """(cells in the original's loop order, name -> source).

    haystack: unit embeddings (a FrameStore of (U, tpu, D), or any Source of U * tpu rows);
    visuals[v]: needle v's embeddings, (n_units, tpu, D) or a Source; tail: (n, D) rows the
    model appends after a video (LLaVA-OneVision's newline) or None.
    """
    _check_lengths(grid, frames_per_unit)
    sources = _sources(items, pre_ids, post_ids, haystack, visuals, embed_fn, tail)
    cells = []
    for frames, depth in grid.points():
        units, c = frames // frames_per_unit, 0
        for item in items:
            video = _video_runs(item, depth, units, tokens_per_unit, sources, tail is not None)
            for query in item.queries:
                runs = normalize(
                    [
                        Run(PRE, 0, len(pre_ids)),
                        *video,
                        Run(f"question:{c}", 0, len(query.question_ids)),
                        Run(POST, 0, len(post_ids)),
                    ]
                )
                meta = {
                    "needle": c,
                    "needle_id": item.id,
                    "frames": frames,
                    "depth": depth,
                    **query.meta,
                }
                cells.append(
                    Cell(
                        cell_key(c, frames, depth),
                        runs,
                        query.answer_ids,
                        f"answer:{c}",
                        query.answer_text,
                        query.is_option,
                        meta,
                    )
                )
                c += 1
    return cells, sources


def _video_runs(item: ItemPrompt, depth: float, units: int, tpu: int, sources, tail: bool):
    inserts = []
    for k, n in placements(item.inserts, depth, units):
        name = f"needle:{item.inserts[n].visual}"
        inserts.append((k, Run(name, 0, len(sources[name]))))
    runs = interleave(HAY, inserts, units, tpu)
    if tail:
        runs.append(Run(TAIL, 0, len(sources[TAIL])))
    return runs


def _sources(items, pre_ids, post_ids, haystack, visuals, embed_fn, tail) -> dict[str, Source]:
    hay = FrameSource(haystack) if isinstance(haystack, FrameStore) else haystack
    sources: dict[str, Source] = {
        PRE: text_source(pre_ids, embed_fn),
        POST: text_source(post_ids, embed_fn),
        HAY: hay,
    }
    for v, visual in enumerate(visuals):
        rows = visual.reshape(-1, visual.shape[-1]) if isinstance(visual, torch.Tensor) else None
        sources[f"needle:{v}"] = (
            TensorSource(rows, modality="video") if rows is not None else visual
        )
    if tail is not None:
        sources[TAIL] = TensorSource(tail, modality="video")
    queries = [q for item in items for q in item.queries]  # c = index in this order
    for c, query in enumerate(queries):
        sources[f"question:{c}"] = text_source(query.question_ids, embed_fn)
        sources[f"answer:{c}"] = text_source(query.answer_ids, embed_fn)
    return sources


def _check_lengths(grid: Grid, frames_per_unit: int) -> None:
    odd = [n for n in grid.lengths if n % frames_per_unit]
    if odd:
        raise InputError(
            f"--frames {odd[0]}: this model reads frames in groups of {frames_per_unit}"
            f" (temporal patches); expected frame counts that are multiples of {frames_per_unit}"
        )


def single_items(needles: Sequence[NeedlePrompt]) -> list[ItemPrompt]:
    """The original single-needle task as items: needle n = visual n = query n."""
    return [
        ItemPrompt(
            n.id, (Insert(i),), (Query(n.question_ids, n.answer_ids, n.answer_text, n.is_option),)
        )
        for i, n in enumerate(needles)
    ]
