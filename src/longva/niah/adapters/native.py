"""The yardstick for adapters: each cell through the model's own full `forward`.

A cell's runs name rows of sources; here they become what a user of the model would pass:
token ids for text runs, and for every maximal stretch of visual runs (haystack, needles, the
model's own tail such as LLaVA-OneVision's newline) ONE video of the underlying frames with as
many placeholder tokens as it has rows. `adapter.full_forward` then runs the model's forward
on token ids + pixels (its own vision path, merging, position ids) with full logits, and the
answer span is scored as the original does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch

from longva.niah.adapters.base import Piece, VideoAdapter, VideoPiece
from longva.niah.evaluator import Cell, CellResult
from longva.niah.sequence import Source


def cell_pieces(
    cell: Cell,
    sources: Mapping[str, Source],
    raw: Mapping[str, Sequence],
    tokens_per_unit: int,
    frames_per_unit: int,
) -> list[Piece]:
    """The cell's full sequence (prompt + answer) as token-id pieces and videos.

    raw[name]: token ids of a text source, or the frames of a visual source (its rows come in
    units of `tokens_per_unit`, each unit `frames_per_unit` frames); visual sources missing from
    `raw` (a tail) add placeholder tokens only.
    """
    pieces: list[Piece] = []
    frames: list = []
    tokens = 0
    for run in cell.full_runs():
        if getattr(sources[run.source], "modality", "text") == "video":
            if run.source in raw:
                a, b = run.start // tokens_per_unit, run.stop // tokens_per_unit
                frames += list(raw[run.source][a * frames_per_unit : b * frames_per_unit])
            tokens += run.size
            continue
        if tokens:
            pieces.append(VideoPiece(tuple(frames), tokens))
            frames, tokens = [], 0
        pieces.append(list(raw[run.source][run.start : run.stop]))
    if tokens:
        pieces.append(VideoPiece(tuple(frames), tokens))
    return pieces


def native_evaluate(
    adapter: VideoAdapter,
    cells: Sequence[Cell],
    sources: Mapping[str, Source],
    raw: Mapping[str, Sequence],
    keep_logits: bool = False,
) -> list[CellResult]:
    """Score cells the original's way (full logits, teacher-forced) on the model's forward."""
    results = []
    with torch.inference_mode():
        for cell in cells:
            t0 = time.perf_counter()
            pieces = cell_pieces(
                cell, sources, raw, adapter.tokens_per_unit, adapter.frames_per_unit
            )
            logits = adapter.full_forward(pieces)  # (L, V)
            p, a = cell.prompt_len, len(cell.answer_ids)
            span = logits[p - 1 : p + a - 1]  # (A, V)
            pred = span.argmax(-1).tolist()
            results.append(
                CellResult(
                    cell,
                    pred == list(cell.answer_ids),
                    pred,
                    logits.shape[0],
                    time.perf_counter() - t0,
                    logits=span.clone() if keep_logits else None,
                )
            )
    return results
