"""Chunked, atomic, memory-mapped, resumable visual-embedding cache."""

import pytest
import torch

from longva.niah.embedding_cache import EmbeddingCache, FrameStore, key_hash
from longva.niah.haystack import SyntheticHaystack

KEY = {"weights": "w1", "config": {"tpf": 2}, "haystack": {"kind": "synthetic", "seed": 0}}


class CountingEncoder:
    """frames -> (n, 2, 3) embeddings from the frame means; counts frames and can fail."""

    def __init__(self, fail_after: int | None = None):
        self.frames, self.fail_after = 0, fail_after

    def __call__(self, frames):
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.frames += len(frames)
        x = torch.stack(
            [torch.as_tensor(f, dtype=torch.float32).mean(dim=(0, 1)) for f in frames]
        )  # (n, 3)
        return torch.stack([x, -x], dim=1)  # (n, 2, 3)


def test_compute_then_reuse_memory_mapped(tmp_path):
    hay = SyntheticHaystack(seed=0, width=16, height=9)
    cache = EmbeddingCache(tmp_path, chunk_frames=8)
    enc = CountingEncoder()
    first = cache.get(KEY, 20, hay.frames_from, enc)
    assert enc.frames == 24  # 3 full chunks: chunks are immutable, the last one is not cut
    assert first.num_frames == 20 and first.frames(0, 20).shape == (20, 2, 3)
    again = CountingEncoder()
    second = cache.get(KEY, 20, hay.frames_from, again)
    assert again.frames == 0
    assert torch.equal(first.frames(0, 20), second.frames(0, 20))
    expected = CountingEncoder()([hay.frame(i) for i in range(20)])
    assert torch.allclose(second.frames(0, 20), expected)
    files = sorted(p.name for p in (tmp_path / cache.entry_dir(KEY).name).iterdir())
    assert files == [
        "frames_00000000_00000008.safetensors",
        "frames_00000008_00000016.safetensors",
        "frames_00000016_00000024.safetensors",
        "key.json",
    ]


def test_partial_cache_resumes_from_the_first_missing_chunk(tmp_path):
    hay = SyntheticHaystack(seed=3, width=16, height=9)
    cache = EmbeddingCache(tmp_path, chunk_frames=4)
    with pytest.raises(RuntimeError):
        cache.get(KEY, 16, hay.frames_from, CountingEncoder(fail_after=8))
    assert len(cache.cached_chunks(KEY)) == 2  # chunks written before the crash are kept
    assert not [p for p in cache.entry_dir(KEY).iterdir() if p.name.endswith(".tmp")]
    resumed = CountingEncoder()
    store = cache.get(KEY, 16, hay.frames_from, resumed)
    assert resumed.frames == 8
    full = CountingEncoder()([hay.frame(i) for i in range(16)])
    assert torch.allclose(store.frames(0, 16), full)


def test_growing_the_request_adds_chunks_and_keys_separate_entries(tmp_path):
    hay = SyntheticHaystack(seed=1, width=16, height=9)
    cache = EmbeddingCache(tmp_path, chunk_frames=4)
    cache.get(KEY, 4, hay.frames_from, CountingEncoder())
    more = CountingEncoder()
    assert cache.get(KEY, 10, hay.frames_from, more).num_frames == 10 and more.frames == 8
    other = CountingEncoder()
    cache.get({**KEY, "weights": "w2"}, 4, hay.frames_from, other)
    assert other.frames == 4 and key_hash(KEY) != key_hash({**KEY, "weights": "w2"})


def test_finite_source_has_a_short_last_chunk(tmp_path):
    frames = [torch.full((2, 2, 3), float(i)).numpy() for i in range(6)]
    cache = EmbeddingCache(tmp_path, chunk_frames=4)
    store = cache.get(KEY, 6, lambda s: iter(frames[s:]), CountingEncoder(), source_frames=6)
    assert store.num_frames == 6 and [c.shape[0] for c in store.chunks] == [4, 2]


def test_frame_store_slices_across_chunks():
    store = FrameStore(
        [torch.arange(6.0).reshape(3, 1, 2), torch.arange(6.0, 10.0).reshape(2, 1, 2)]
    )
    assert store.frames(2, 4).flatten().tolist() == [4, 5, 6, 7]
    with pytest.raises(IndexError):
        store.frames(0, 6)
