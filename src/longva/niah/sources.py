"""Embedding sources: where the rows of a `Run` come from.

A source hands out LM-space embeddings of its token rows [a, b) on demand, so a 3000-frame
haystack can stay memory-mapped on disk and only the chunk being prefilled is ever resident:
- `TensorSource`: a (N, D) tensor (text pieces, a needle), possibly memory-mapped;
- `FrameSource`: a `FrameStore` of (T, tokens_per_frame, D) frame embeddings, seen as T*tpf rows;
- `TokenSource`: token ids embedded lazily by the LM's embedding function (text haystacks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from longva.niah.embedding_cache import FrameStore
from longva.niah.sequence import Run

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
