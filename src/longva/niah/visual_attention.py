"""Prefix-LM models in the KV-reusing evaluator: which rows are visual, what KV may be reused,
and how a cell's prompt is prefilled (`PrefixCache(visual_fn=...)`).

Under prefix-LM attention (`longva.model.prefix_lm`) every visual token sees every visual token
of the sequence, so the KV of the visual region [first, end) (first to last visual row) depends
on all of it:
- a cached prefix is reusable up to `first` only, or in full when the cached cell had exactly
  the same visual region and the common prefix covers it (the queries of one V-NIAH video);
- the region is prefilled in ONE forward with the 4D prefix-LM mask; the text before and after
  it is prefilled causally in chunks, as for any model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from longva.niah.sequence import Runs, Source

# runs -> (L,) bool: True at visual rows
VisualFn = Callable[[Runs], torch.Tensor]
Region = tuple[int, int]  # [first, end) of the visual rows


def video_rows(sources: Mapping[str, Source], unit: int | None = None, marker: int = 0) -> VisualFn:
    """Rows of `video` sources are visual; with `unit`, the first `marker` rows of every unit of
    `unit` rows are text (an interleaved prompt's frame markers stored with their frame)."""

    def flags(runs: Runs) -> torch.Tensor:
        parts = []
        for run in runs:
            video = getattr(sources[run.source], "modality", "text") == "video"
            rows = torch.full((run.size,), video, dtype=torch.bool)
            if video and unit and marker:
                rows &= (torch.arange(run.start, run.stop) % unit) >= marker
            parts.append(rows)
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)

    return flags


def visual_region(visual: torch.Tensor) -> Region | None:
    rows = visual.nonzero().flatten()
    return None if rows.numel() == 0 else (int(rows[0]), int(rows[-1]) + 1)


def reusable_prefix(keep: int, region: Region | None, cached_region: Region | None) -> int:
    """How much of a `keep`-token common prefix stays valid under prefix-LM attention."""
    if region is None or keep <= region[0]:
        return keep
    if keep >= region[1] and cached_region == region:
        return keep
    return region[0]


def prefill_spans(keep: int, n: int, region: Region | None, chunk: int) -> list[tuple[int, int, bool]]:
    """(a, b, masked) pieces that prefill [keep, n): causal chunks, the visual region in one piece."""
    if region is None or keep >= region[1]:
        return _chunks(keep, n, chunk)
    first, end = region
    if n < end:
        raise ValueError(f"prefix-LM prefill must include the whole visual region (rows {first}..{end}), got {n}")
    return [*_chunks(keep, first, chunk), (max(keep, first), end, True), *_chunks(end, n, chunk)]


def _chunks(a: int, b: int, chunk: int) -> list[tuple[int, int, bool]]:
    return [(i, min(b, i + chunk), False) for i in range(a, b, chunk)]
