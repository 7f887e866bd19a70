"""Which frames to read: uniform N-frame sampling, fps sampling, time ranges, clamping.

Indices follow the original LongVA code:
- uniform: `np.linspace(0, total - 1, N, dtype=int)` (inference, Video-MME, needle tests);
- fps: `range(0, total, round(avg_fps))` for 1 fps (V-NIAH haystacks), generalised to any
  target rate as an integer stride `round(avg_fps / target_fps)`. For variable-frame-rate
  video the stride is over frames, so the rate is only approximate there.
A time range [start, end) in seconds (from the first frame) restricts either sampling to the
frames shown in it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from longva.errors import InputError


class FrameClampWarning(UserWarning):
    """More frames (or a higher rate) were asked for than the video has; all were returned."""


@dataclass(frozen=True)
class Selection:
    indices: np.ndarray  # (N,) int64, ascending
    clamped: bool  # True when fewer frames than asked for were available


def uniform_indices(total: int, n: int) -> np.ndarray:
    """(min(n, total),) evenly spaced frame indices over [0, total - 1], as LongVA samples.

    Asking for more frames than `total` returns every frame once (no duplicates).
    """
    if n >= total:
        return np.arange(total, dtype=np.int64)
    return np.linspace(0, total - 1, n, dtype=int).astype(np.int64)


def fps_stride(video_fps: float, target_fps: float) -> int:
    """Frames between samples for `target_fps`; 0 when the target exceeds the video's rate."""
    return round(video_fps / target_fps)  # Python round, like LongVA's round(avg_fps)


def fps_indices(
    total: int, video_fps: float, target_fps: float, start_frame: int = 0, end_frame: int | None = None
) -> np.ndarray:
    """Frame indices `range(start_frame, end_frame, round(video_fps / target_fps))` (stride >= 1)."""
    stop = total if end_frame is None else min(end_frame, total)
    return np.arange(start_frame, stop, max(fps_stride(video_fps, target_fps), 1), dtype=np.int64)


def frame_range(times: np.ndarray, start: float | None, end: float | None, path) -> tuple[int, int]:
    """[first, stop) indices of the frames shown at `start <= t < end` seconds.

    times: (F,) float64 seconds of every frame from the first one. An `end` past the last
    frame means "to the end"; a range holding no frame is an InputError.
    """
    lo = 0.0 if start is None else float(start)
    hi = np.inf if end is None else float(end)
    if lo < 0 or hi <= lo:
        raise InputError(f"{path}: bad time range start={start} end={end}; "
                         "expected 0 <= start < end (seconds)")
    first, stop = np.searchsorted(times, [lo, hi], side="left")
    if first >= stop:
        raise InputError(f"{path}: no frame in the time range [{lo:g}, {hi:g}) s; the video's frames "
                         f"span 0-{times[-1]:.3f} s")
    return int(first), int(stop)


def select_indices(
    path: str | os.PathLike,
    times: np.ndarray,
    video_fps: float,
    num_frames: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Selection:
    """Frames to read for `load_video` arguments (see there); warns FrameClampWarning on clamps.

    times: (F,) float64 seconds of every frame from the first. With both `fps` and `num_frames`,
    `num_frames` caps the fps samples uniformly (LongVA's training loader `frames_upbound`).
    """
    if num_frames is None and fps is None:
        raise InputError(f"{path}: no sampling given; expected num_frames and/or fps")
    if num_frames is not None and num_frames < 1 or fps is not None and not fps > 0:
        raise InputError(f"{path}: bad sampling num_frames={num_frames} fps={fps}; "
                         "expected num_frames >= 1 and fps > 0")
    first, stop = frame_range(times, start, end, path)
    available = stop - first
    if fps is not None:
        clamped = fps_stride(video_fps, fps) < 1
        if clamped:
            _warn(f"{path}: asked for {fps:g} fps but the video has {video_fps:g} fps; "
                  f"returning every frame ({available})")
        indices = fps_indices(stop, video_fps, fps, first, stop)
        if num_frames is not None and len(indices) > num_frames:
            indices = indices[uniform_indices(len(indices), num_frames)]
        return Selection(indices, clamped)
    clamped = num_frames > available
    if clamped:
        _warn(f"{path}: asked for {num_frames} frames but only {available} are available; "
              f"returning all {available}")
    return Selection(first + uniform_indices(available, num_frames), clamped)


def _warn(message: str) -> None:
    warnings.warn(message, FrameClampWarning, stacklevel=4)
