"""Visual embeddings computed once, stored as chunked safetensors, memory-mapped on reuse.

Encoding 3000 frames through a vision tower is the slow part of a V-NIAH run and does not
depend on the LM's grid, so it is cached per *key*: (model weights fingerprint, encoding config,
video fingerprint, sampling). An entry is a folder named by the key's hash:

    <cache>/<hash>/key.json                          the key, for humans
    <cache>/<hash>/frames_00000000_00000064.safetensors   tensor "embeddings" (n, tpf, D)

Chunk boundaries are fixed multiples of `chunk_frames`, each chunk is written atomically
(temp file + rename), so an interrupted encode leaves only complete chunks and a rerun resumes
from the first missing one. Asking later for more frames adds chunks; asking for fewer reads a
prefix. Chunks are opened with `safetensors.torch.load_file`, which memory-maps the file: a
3 GB haystack costs no RAM until its pages are touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from longva.errors import InputError
from longva.utils.io import atomic_save_safetensors, atomic_write_json

_CHUNK_RE = re.compile(r"^frames_(\d{8})_(\d{8})\.safetensors$")


class FrameStore:
    """Frame embeddings (T, tokens_per_frame, D) held as a list of chunks (n_i, tpf, D)."""

    def __init__(self, chunks: list[torch.Tensor], num_frames: int | None = None):
        if not chunks:
            raise ValueError("FrameStore needs at least one chunk")
        self.chunks = chunks
        self.starts = [0]
        for chunk in chunks:
            self.starts.append(self.starts[-1] + chunk.shape[0])
        available = self.starts[-1]
        self.num_frames = available if num_frames is None else min(num_frames, available)

    @classmethod
    def from_tensor(cls, frames: torch.Tensor) -> FrameStore:
        return cls([frames])  # (T, tpf, D)

    @property
    def tokens_per_frame(self) -> int:
        return self.chunks[0].shape[1]

    @property
    def dim(self) -> int:
        return self.chunks[0].shape[2]

    def frames(self, a: int, b: int) -> torch.Tensor:
        """Frames [a, b) as one (b - a, tpf, D) tensor (a view when inside one chunk)."""
        if not 0 <= a <= b <= self.num_frames:
            raise IndexError(f"frames [{a}, {b}) outside 0..{self.num_frames}")
        parts = []
        for i, chunk in enumerate(self.chunks):
            lo, hi = max(a, self.starts[i]), min(b, self.starts[i + 1])
            if lo < hi:
                parts.append(chunk[lo - self.starts[i] : hi - self.starts[i]])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)


def default_cache_dir() -> Path:
    """$LONGVA_CACHE/niah, or ~/.cache/longva/niah."""
    return Path(os.environ.get("LONGVA_CACHE", Path.home() / ".cache" / "longva")) / "niah"


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def file_fingerprint(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 of (size, first MiB, last MiB): cheap on multi-GB videos and weights, and a
    changed file almost always changes its size, header or tail."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(block))
        if size > block:
            f.seek(max(block, size - block))
            h.update(f.read(block))
    return h.hexdigest()[:20]


def weights_fingerprint(model_dir: str | os.PathLike) -> str:
    """Fingerprint of every weights file in a model folder (names + file fingerprints)."""
    model_dir = Path(model_dir)
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin", ".pt"))
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + file_fingerprint(p).encode())
    return h.hexdigest()[:20]


def module_fingerprint(module: torch.nn.Module, max_values: int = 4096) -> str:
    """Fingerprint of an in-memory model (names, shapes and a sample of every tensor)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        flat = t.detach().reshape(-1)[:max_values].float().cpu()
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(flat.numpy().tobytes())
    return h.hexdigest()[:20]


EncodeFn = Callable[[list], torch.Tensor]  # a list of frames -> (n, tpf, D)


class EmbeddingCache:
    """Folders of chunked frame embeddings keyed by what determines them."""

    def __init__(self, root: str | os.PathLike, chunk_frames: int = 32):
        if chunk_frames < 1:
            raise InputError(f"embedding cache chunk size {chunk_frames} must be >= 1")
        self.root = Path(root)
        self.chunk_frames = chunk_frames

    def entry_dir(self, key: dict) -> Path:
        return self.root / key_hash({**key, "chunk_frames": self.chunk_frames})

    def cached_chunks(self, key: dict) -> dict[int, Path]:
        """Start frame -> file of each complete chunk of this entry."""
        folder = self.entry_dir(key)
        if not folder.is_dir():
            return {}
        found = {}
        for p in folder.iterdir():
            m = _CHUNK_RE.match(p.name)
            if m:
                found[int(m.group(1))] = p
        return found

    def get(
        self,
        key: dict,
        num_frames: int,
        frames_from: Callable[[int], Iterator],
        encode: EncodeFn,
        source_frames: int | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> FrameStore:
        """The first `num_frames` embeddings of the entry, computing the missing chunks.

        frames_from(start): an iterator over the source's frames from index `start` on.
        encode(frames): their embeddings (n, tpf, D), n = len(frames).
        source_frames: the source's length, if finite (the last chunk may be shorter).
        on_chunk(n): called with the number of frames of every chunk computed (progress).
        """
        folder = self.entry_dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "key.json").exists():
            atomic_write_json(folder / "key.json", {**key, "chunk_frames": self.chunk_frames})
        have = self.cached_chunks(key)
        bounds = self._bounds(num_frames, source_frames)
        missing = [b for b in bounds if b[0] not in have]
        if missing:
            self._compute(folder, missing, frames_from, encode, on_chunk)
            have = self.cached_chunks(key)
        chunks = [_load_chunk(have[a]) for a, _ in bounds]
        return FrameStore(chunks, num_frames)

    def _bounds(self, num_frames: int, source_frames: int | None) -> list[tuple[int, int]]:
        end = num_frames if source_frames is None else min(num_frames, source_frames)
        c = self.chunk_frames
        out = []
        for a in range(0, end, c):
            b = a + c if source_frames is None else min(a + c, source_frames)
            out.append((a, b))
        return out

    def _compute(self, folder: Path, missing, frames_from, encode, on_chunk) -> None:
        frames = frames_from(missing[0][0])
        position = missing[0][0]
        for a, b in missing:
            while position < a:  # skip frames of chunks that are already cached
                next(frames)
                position += 1
            batch = [next(frames) for _ in range(b - a)]
            position = b
            with torch.no_grad():
                emb = encode(batch).detach().cpu().contiguous()  # (b - a, tpf, D)
            if emb.ndim != 3 or emb.shape[0] != b - a:
                raise ValueError(
                    f"encode returned {tuple(emb.shape)} for {b - a} frames; expected (n, tpf, D)"
                )
            atomic_save_safetensors(
                {"embeddings": emb}, folder / f"frames_{a:08d}_{b:08d}.safetensors"
            )
            if on_chunk is not None:
                on_chunk(b - a)


def _load_chunk(path: Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(path))["embeddings"]  # memory-mapped, (n, tpf, D)
