"""V-NIAH cells: the original's sequence layout, as runs over named sources.

Sequence of a cell (needle n, T frames, depth d), `k = int(d * T)` (dossier §3.5):

    [preprompt] + haystack[0:k] + needle_n + haystack[k:T] + [question_n] + [postprompt] + [answer_n]

Every piece is tokenised on its own (as the original's `safe_tokenize` per string); the needle is
inserted (T + 1 visual frames), not substituted. Sources: `pre`, `post`, `hay` (T_max * tpf
rows), `needle:n`, `question:n`, `answer:n`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from longva.niah.embedding_cache import FrameStore
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid, insert_index
from longva.niah.results import cell_key
from longva.niah.sequence import Run, normalize
from longva.niah.sources import EmbedFn, FrameSource, Source, TensorSource, text_source

PRE, POST, HAY = "pre", "post", "hay"


@dataclass(frozen=True)
class NeedlePrompt:
    """A needle once tokenised: what a cell needs besides its visual embedding."""

    id: str
    question_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    answer_text: str = ""
    is_option: bool = False


def vniah_cells(
    grid: Grid,
    needles: Sequence[NeedlePrompt],
    tokens_per_frame: int,
    needle_tokens: int,
    pre_len: int,
    post_len: int,
) -> list[Cell]:
    """All (needle, frames, depth) cells, in the original's loop order."""
    tpf = tokens_per_frame
    cells = []
    for frames, depth in grid.points():
        k = insert_index(depth, frames)
        for n, needle in enumerate(needles):
            runs = normalize(
                [
                    Run(PRE, 0, pre_len),
                    Run(HAY, 0, k * tpf),
                    Run(f"needle:{n}", 0, needle_tokens),
                    Run(HAY, k * tpf, frames * tpf),
                    Run(f"question:{n}", 0, len(needle.question_ids)),
                    Run(POST, 0, post_len),
                ]
            )
            meta = {"needle": n, "needle_id": needle.id, "frames": frames, "depth": depth}
            cells.append(
                Cell(
                    cell_key(n, frames, depth),
                    runs,
                    needle.answer_ids,
                    f"answer:{n}",
                    needle.answer_text,
                    needle.is_option,
                    meta,
                )
            )
    return cells


def vniah_sources(
    embed_fn: EmbedFn,
    pre_ids: Sequence[int],
    post_ids: Sequence[int],
    haystack: FrameStore,
    needle_embeddings: torch.Tensor,
    needles: Sequence[NeedlePrompt],
) -> dict[str, Source]:
    """Name -> source for `vniah_cells`; needle_embeddings: (N, tpf, D)."""
    sources: dict[str, Source] = {
        PRE: text_source(pre_ids, embed_fn),
        POST: text_source(post_ids, embed_fn),
        HAY: FrameSource(haystack),
    }
    for n, needle in enumerate(needles):
        sources[f"needle:{n}"] = TensorSource(needle_embeddings[n])
        sources[f"question:{n}"] = text_source(needle.question_ids, embed_fn)
        sources[f"answer:{n}"] = text_source(needle.answer_ids, embed_fn)
    return sources
