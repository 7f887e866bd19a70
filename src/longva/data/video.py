"""Read frames from a video file or a directory of frame images.

    info = probe_video("talk.mp4")                      # VideoInfo(num_frames, fps, ...)
    clip = load_video("talk.mp4", num_frames=32)         # SampledVideo; clip.frames (32, H, W, 3)
    hay = load_video("film.mp4", fps=1, start=60, end=600)
    src = open_video("film.mp4")                         # stream many frames, batch by batch
    for idx, frames in src.iter_frames(src.select(fps=1).indices, batch_size=32):
        ...                                              # idx (B,), frames (B, H, W, 3) uint8

Sampling follows LongVA (see `video_sampling`). Decoding is frame-accurate with either strategy:
"seek" (keyframe seek, decode forward to the target) or "sequential" (one pass); "auto" mixes
them by a cost model on the keyframe spacing (see `video_decode`). Asking for more frames than
exist returns them all, warns `FrameClampWarning` and sets `clamped`. Bad input raises
`longva.errors.InputError` with one line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longva.data.video_decode import STRATEGIES
from longva.data.video_file import VideoFile
from longva.data.video_frame_dir import FrameDir
from longva.data.video_info import VideoInfo
from longva.data.video_sampling import (
    FrameClampWarning,
    Selection,
    fps_indices,
    select_indices,
    uniform_indices,
)
from longva.errors import InputError

__all__ = [
    "FrameClampWarning", "SampledVideo", "Selection", "VideoInfo", "VideoSource", "fps_indices",
    "load_video", "open_video", "probe_video", "uniform_indices",
]


@dataclass
class SampledVideo:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    indices: np.ndarray  # (N,) int64 frame indices in the video
    timestamps: np.ndarray  # (N,) float64 seconds from the first frame
    clamped: bool  # fewer frames than asked for were available (a FrameClampWarning was issued)
    strategy_used: str  # "seek" | "sequential" (files) or "direct" (frame directories)
    info: VideoInfo


class VideoSource:
    """An opened video: `.info`, frame times, index selection and batched frame reading."""

    def __init__(self, path: Path, backend: VideoFile | FrameDir):
        self.path = path
        self._backend = backend
        self.info: VideoInfo = backend.info

    def times(self) -> np.ndarray:
        """(F,) float64 presentation time of every frame, seconds from the first frame."""
        return self._backend.times()

    def select(self, num_frames: int | None = None, fps: float | None = None,
               start: float | None = None, end: float | None = None) -> Selection:
        """Indices for uniform (`num_frames`) and/or `fps` sampling within [start, end) seconds."""
        return select_indices(self.path, self.times(), self.info.fps, num_frames, fps, start, end)

    def strategy_for(self, indices: np.ndarray, strategy: str = "auto") -> str:
        """The strategy `iter_frames` will actually use for `indices`."""
        return self._backend.strategy_for(_checked(indices, self.info), strategy)

    def iter_frames(self, indices, batch_size: int = 32, strategy: str = "auto"
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (indices (B,), frames (B, H, W, 3) uint8) batches, B <= batch_size.

        indices: ascending frame indices (repeats allowed). strategy: "auto" | "seek" |
        "sequential". At most one batch of frames is held at a time.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        wanted = _checked(indices, self.info)
        decoded = self._backend.frames(np.unique(wanted), strategy)
        shape = (self.info.height, self.info.width, 3)
        last, rgb = -1, None
        for begin in range(0, len(wanted), batch_size):
            chunk = wanted[begin:begin + batch_size]
            batch = np.empty((len(chunk), *shape), np.uint8)  # (B, H, W, 3)
            for j, index in enumerate(chunk.tolist()):
                if index != last:  # a repeated index reuses the frame just decoded
                    last, rgb = next(decoded)
                    assert last == index, (last, index)
                batch[j] = rgb
            yield chunk, batch


def open_video(path: str | os.PathLike, dir_fps: float = 1.0) -> VideoSource:
    """Open a video file or a directory of frames (read at `dir_fps` frames per second)."""
    path = Path(path)
    if path.is_dir():
        return VideoSource(path, FrameDir(path, dir_fps))
    if not path.exists():
        raise InputError(f"{path}: video not found; expected an existing video file or a "
                         "directory of frames")
    return VideoSource(path, VideoFile(path))


def probe_video(path: str | os.PathLike, dir_fps: float = 1.0) -> VideoInfo:
    """Frame count, rate, duration, size, keyframe spacing and codec of a video."""
    return open_video(path, dir_fps).info


def load_video(
    path: str | os.PathLike,
    num_frames: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    strategy: str = "auto",
    dir_fps: float = 1.0,
) -> SampledVideo:
    """Read sampled frames into memory at once (for a modest number of frames).

    num_frames: N frames evenly spaced like LongVA (`np.linspace(0, total - 1, N, dtype=int)`).
    fps: frames at this rate (stride `round(video_fps / fps)`); with num_frames too, the fps
        samples are capped to num_frames evenly.
    start, end: seconds from the first frame; only frames shown in [start, end) are sampled.
    """
    source = open_video(path, dir_fps)
    selection = source.select(num_frames, fps, start, end)
    frames = np.empty((len(selection.indices), source.info.height, source.info.width, 3), np.uint8)
    filled = 0
    for _, batch in source.iter_frames(selection.indices, strategy=strategy):
        frames[filled:filled + len(batch)] = batch
        filled += len(batch)
    return SampledVideo(
        frames=frames,
        indices=selection.indices,
        timestamps=source.times()[selection.indices],
        clamped=selection.clamped,
        strategy_used=source.strategy_for(selection.indices, strategy),
        info=source.info,
    )


def _checked(indices, info: VideoInfo) -> np.ndarray:
    """indices as (N,) int64, ascending and inside the video (a programming error otherwise)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(indices) and (indices[0] < 0 or indices[-1] >= info.num_frames or np.any(np.diff(indices) < 0)):
        raise ValueError(f"frame indices must be ascending within [0, {info.num_frames}); "
                         f"got {indices[:8].tolist()}...")
    return indices
