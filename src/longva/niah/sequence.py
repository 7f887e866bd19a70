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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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
