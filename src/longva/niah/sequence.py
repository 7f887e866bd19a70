"""A NIAH sequence as runs of named sources, and the trie order that makes KV reuse pay.

Every cell of a NIAH grid is a concatenation of pieces that many cells share: the system
prompt, haystack frames 0..k, a needle, the question... A `Run(source, start, stop)` names the
token rows [start, stop) of one source (e.g. `Run("hay", 0, 144 * k)`), so a sequence is a short
tuple of runs however long it is, and two sequences are token-for-token identical exactly where
their runs are. With causal attention the KV cache of a common prefix is identical too.

Sorting cells by their run tuples visits the trie of all sequences depth first: the cells below
any prefix are contiguous, so one KV cache cropped back to the common prefix of consecutive cells
computes every distinct trie node once. Runs are normalised (empty runs dropped, contiguous runs
of one source merged) so that "same tokens" and "same runs" coincide; then, at a divergence in
the middle of a run, the cell whose run stops first sorts first, which is still a valid child
order of that trie node.

Sources hand out LM-space embeddings of their token rows [a, b) on demand, so a 3000-frame
haystack can stay memory-mapped on disk and only the chunk being prefilled is ever resident:
- `TensorSource`: a (N, D) tensor (text pieces, a needle), possibly memory-mapped;
- `FrameSource`: a `FrameStore` of (T, tokens_per_frame, D) frame embeddings, seen as T*tpf rows;
- `TokenSource`: token ids embedded lazily by the LM's embedding function (text haystacks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from longva.niah.embedding_cache import FrameStore


@dataclass(frozen=True, order=True)
class Run:
    source: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


Runs = tuple[Run, ...]


def normalize(runs: Iterable[Run]) -> Runs:
    """Drop empty runs and merge runs that continue the previous one in the same source."""
    out: list[Run] = []
    for run in runs:
        if run.size <= 0:
            continue
        if out and out[-1].source == run.source and out[-1].stop == run.start:
            out[-1] = Run(run.source, out[-1].start, run.stop)
        else:
            out.append(run)
    return tuple(out)


def interleave(hay: str, inserts: Iterable[tuple[int, Run]], units: int, per_unit: int = 1) -> list[Run]:
    """Haystack units [0, units) of source `hay` with each insert placed after its unit k.

    inserts: (k, run) in sequence order (k ascending); a unit is `per_unit` rows (a frame's
    tokens, or one token of a text haystack).
    """
    runs, at = [], 0
    for k, run in inserts:
        runs += [Run(hay, at * per_unit, k * per_unit), run]
        at = k
    runs.append(Run(hay, at * per_unit, units * per_unit))
    return runs


def total_len(runs: Sequence[Run]) -> int:
    return sum(r.size for r in runs)


def common_prefix_len(a: Sequence[Run], b: Sequence[Run]) -> int:
    """Number of leading tokens two normalised sequences share."""
    n = 0
    for ra, rb in zip(a, b, strict=False):
        if ra == rb:
            n += ra.size
            continue
        if ra.source == rb.source and ra.start == rb.start:
            n += min(ra.stop, rb.stop) - ra.start  # same rows until the shorter run ends
        break
    return n


def truncate(runs: Sequence[Run], n: int) -> Runs:
    """The first `n` tokens of a sequence, as runs."""
    return slice_runs(runs, 0, n)


def slice_runs(runs: Sequence[Run], a: int, b: int) -> Runs:
    """Tokens [a, b) of a sequence, as runs."""
    out: list[Run] = []
    pos = 0
    for run in runs:
        lo, hi = max(a, pos), min(b, pos + run.size)
        if lo < hi:
            out.append(Run(run.source, run.start + lo - pos, run.start + hi - pos))
        pos += run.size
        if pos >= b:
            break
    return tuple(out)


def dfs_order(sequences: Sequence[Sequence[Run]]) -> list[int]:
    """Indices of `sequences` in trie depth-first order (lexicographic on normalised runs)."""
    return sorted(range(len(sequences)), key=lambda i: tuple(sequences[i]))


def new_tokens(sequences: Sequence[Sequence[Run]], needed_from: Sequence[int]) -> list[int]:
    """Tokens each sequence computes when visited in the given order with one reused cache.

    `needed_from[i]`: the first position whose output cell i needs (its states are recomputed
    even when cached); the last token of a sequence is never fed (nothing to predict after it).
    """
    costs, previous = [], ()
    for runs, need in zip(sequences, needed_from, strict=True):
        keep = min(common_prefix_len(previous, runs), need)
        costs.append(total_len(runs) - 1 - keep)
        previous = runs
    return costs


# ---- sources ----------------------------------------------------------------------------------

EmbedFn = Callable[[torch.Tensor], torch.Tensor]  # ids (L,) -> (L, D)


class TensorSource:
    def __init__(self, rows: torch.Tensor, modality: str = "text"):
        self.rows = rows  # (N, D)
        self.modality = modality  # "text" or "video" (M-RoPE position ids tell them apart)

    def __len__(self) -> int:
        return self.rows.shape[0]

    def embed(self, a: int, b: int) -> torch.Tensor:
        return self.rows[a:b]  # (b - a, D)


class FrameSource:
    modality = "video"

    def __init__(self, store: FrameStore):
        self.store = store

    def __len__(self) -> int:
        return self.store.num_frames * self.store.tokens_per_frame

    def embed(self, a: int, b: int) -> torch.Tensor:
        tpf = self.store.tokens_per_frame
        first, last = a // tpf, (b + tpf - 1) // tpf
        frames = self.store.frames(first, last)  # (last - first, tpf, D)
        flat = frames.reshape(-1, frames.shape[-1])
        return flat[a - first * tpf : b - first * tpf]


class TokenSource:
    modality = "text"

    def __init__(self, ids: Sequence[int] | torch.Tensor, embed_fn: EmbedFn):
        self.ids = torch.as_tensor(ids, dtype=torch.long)  # (N,)
        self.embed_fn = embed_fn

    def __len__(self) -> int:
        return self.ids.shape[0]

    def embed(self, a: int, b: int) -> torch.Tensor:
        return self.embed_fn(self.ids[a:b])


Source = TensorSource | FrameSource | TokenSource


def text_source(ids: Sequence[int], embed_fn: EmbedFn) -> TensorSource:
    """A short text piece, embedded once (prompts, questions, answers)."""
    with torch.no_grad():
        return TensorSource(embed_fn(torch.as_tensor(list(ids), dtype=torch.long)).detach())


def materialize(
    sources: Mapping[str, Source],
    runs: Sequence[Run],
    dtype: torch.dtype | None = None,
    device=None,
) -> torch.Tensor:
    """Concatenate the rows of `runs` into one (L, D) tensor on `device` in `dtype`."""
    parts = []
    for run in runs:
        source = sources[run.source]
        if run.stop > len(source):
            raise IndexError(
                f"run {run} goes past the end of source {run.source!r} ({len(source)} rows)"
            )
        parts.append(source.embed(run.start, run.stop).to(device=device, dtype=dtype))
    return torch.cat(parts, dim=0)
