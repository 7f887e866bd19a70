"""Visual embeddings of a run through an adapter, cached by (model's vision path, unit index).

- Haystack: units of `frames_per_unit` consecutive sampled frames, encoded chunk by chunk into
  the embedding cache under {adapter's visual key, haystack identity}: no task, needle or grid
  in the key, so every task (and every rerun) on the same model and haystack shares them.
- Needles: one cache entry per image/clip file ({visual key, file fingerprint}), shared by
  every task and needle set that shows the same file. A still image fills one unit; a clip is
  read at the run's fps and padded to whole units.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from longva.niah.embedding_cache import EmbeddingCache, FrameStore, file_fingerprint
from longva.niah.haystack import SyntheticHaystack
from longva.niah.tasks.folder import CLIP_SUFFIXES


def first_frame_hw(haystack) -> tuple[int, int]:
    frame = next(iter(haystack.frames_from(0)))
    return tuple(np.asarray(frame).shape[:2])


def _units(frames: Iterator, fpu: int) -> Iterator[list]:
    while True:
        unit = list(islice(frames, fpu))
        if len(unit) < fpu:
            return
        yield unit


def embed_haystack(adapter, haystack, units: int, cache: EmbeddingCache) -> FrameStore:
    """(units, tpu, D) haystack embeddings, computed once per (vision path, haystack)."""
    from longva.utils.progress import make_progress

    fpu = adapter.frames_per_unit
    key = {**adapter.visual_key, "haystack": haystack.identity()}
    if fpu != 1:
        key["frames_per_unit"] = fpu
    finite = None if isinstance(haystack, SyntheticHaystack) else len(haystack) // fpu

    def encode(batch: list[list]) -> torch.Tensor:
        return adapter.encode_units([f for unit in batch for f in unit])

    with make_progress() as progress:
        task = progress.add_task("encoding haystack", total=units)
        return cache.get(
            key,
            units,
            lambda u: _units(iter(haystack.frames_from(u * fpu)), fpu),
            encode,
            finite,
            lambda n: progress.advance(task, n),
        )


def visual_frames(path: Path, fps: float) -> list[np.ndarray]:
    """An image as one frame, or a clip's frames sampled at `fps`."""
    if path.suffix.lower() in CLIP_SUFFIXES:
        from longva.data.video import load_video

        return list(load_video(path, fps=fps).frames)
    with Image.open(path) as im:
        return [np.asarray(im.convert("RGB"))]


def embed_visuals(
    adapter, paths: Sequence[Path], cache: EmbeddingCache, fps: float
) -> list[torch.Tensor]:
    """[(n_units, tpu, D)] per needle image/clip."""
    out = []
    for path in paths:
        key = {**adapter.visual_key, "needle": file_fingerprint(path)}
        if path.suffix.lower() in CLIP_SUFFIXES:
            key["fps"] = fps
        units = _needle_units(adapter, path, fps)
        store = cache.get(
            key,
            len(units),
            lambda u, units=units: iter(units[u:]),
            lambda batch: adapter.encode_units([f for unit in batch for f in unit]),
            source_frames=len(units),
        )
        out.append(store.frames(0, len(units)))
    return out


def _needle_units(adapter, path: Path, fps: float) -> list[list[np.ndarray]]:
    frames = adapter.unit_frames(visual_frames(path, fps))
    fpu = adapter.frames_per_unit
    return [frames[i : i + fpu] for i in range(0, len(frames), fpu)]
