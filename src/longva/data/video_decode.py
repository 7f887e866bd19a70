"""Read frames of a video file: plan where to seek, then decode with PyAV.

Planning. Plan how to decode a set of frames: where to seek and where to just keep decoding.

Cost model, in units of "one frame decoded in a sequential pass":
- decoding forward from the current position p to a target t costs t - p + 1;
- seeking costs SEEK_COST (flush the decoder, reposition the demuxer, refill the threaded
  decoder's pipeline) plus decoding from the target's keyframe k to t: t - k + 1.
So seeking pays off exactly when it skips more than SEEK_COST frames: k - p > SEEK_COST. After
either choice the decoder stands just past t, so deciding target by target (greedy) is optimal
for this model. It seeks for sparse samples on short GOPs and decodes one pass for dense samples
or long GOPs (the keyframe before each target is then mostly behind the current position).

The explicit strategies are the two ends of the same rule:
- "seek":       seek_cost = 0, i.e. seek whenever the target lies past the next keyframe;
- "sequential": never seek, one pass from the first frame.

Decoding. Decode a read plan with PyAV: frame-accurate seeks, one frame in memory at a time.

A seek lands on a keyframe at or before the target; decoding then runs forward until the frame
whose pts equals the target's pts in the timeline. Demuxers seek on different clocks (mp4 on
decode timestamps), so with B-frames a seek can land on a keyframe shown *after* the target;
the first decoded frame reveals it and the seek is retried from an earlier keyframe.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

import av
import numpy as np

from longva.data.video_timeline import Timeline, ffmpeg_reason
from longva.errors import InputError


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects container/taskset limits
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Decoder threads (frame + slice threading), as FFmpeg's "auto" picks them: cores + 1, <= 16.
DECODE_THREADS = min(_available_cpus() + 1, 16)

# Seek overhead in frames of a sequential pass: SEEK_BASE for repositioning plus decoding an
# I-frame, and one frame per extra decoder thread, because a frame-threaded decoder has
# (threads - 1) frames in flight that a seek throws away. Measured on the 2-core CPU box
# (224 px libx264, CPU time, 1-3 threads): 2.5, 3.4, 4.0 frames. Costs near the switch point
# are close, so a rough value is enough.
SEEK_BASE = 2.5
SEEK_COST = SEEK_BASE + (DECODE_THREADS - 1)

STRATEGIES = ("auto", "seek", "sequential")


@dataclass(frozen=True)
class DecodeRun:
    """Decode from `start` (after a seek when `seek`) forward through `targets` (ascending)."""

    start: int
    seek: bool
    targets: list[int]


def plan_reads(indices: np.ndarray, timeline: Timeline, strategy: str = "auto") -> list[DecodeRun]:
    """Runs that decode every distinct frame of `indices` (ascending) exactly once."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    seek_cost = {"auto": SEEK_COST, "seek": 0.0, "sequential": np.inf}[strategy]
    if not timeline.exact:  # frames are only identifiable by counting from the start
        seek_cost = np.inf
    runs: list[DecodeRun] = []
    position = 0  # next frame the decoder would return; a fresh decoder starts at frame 0
    for t in np.unique(indices).tolist():
        k = timeline.keyframe_before(t)
        if k - position <= seek_cost:  # keep decoding (also when k is already behind us)
            if not runs:
                runs.append(DecodeRun(0, False, []))
            runs[-1].targets.append(t)
        else:
            runs.append(DecodeRun(k, True, [t]))
        position = t + 1
    return runs


def plan_cost(runs: list[DecodeRun], seek_cost: float = SEEK_COST) -> float:
    """Modelled cost of `runs` in sequential frame decodes."""
    return sum(r.seek * seek_cost + r.targets[-1] - r.start + 1 for r in runs)


def describe(runs: list[DecodeRun]) -> str:
    """'seek' when the plan seeks at all after the start, else 'sequential'."""
    return "seek" if any(r.seek for r in runs) else "sequential"


# Keyframes tried when a seek overshoots, before falling back to the first frame.
SEEK_RETRIES = 2


def decode_plan(
    path: str | os.PathLike, stream_index: int, timeline: Timeline, runs: list[DecodeRun], size: tuple[int, int]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, (H, W, 3) uint8 RGB) for every target of `runs`, in order.

    size: (width, height) every frame is converted to (a stream may change size midway).
    """
    try:
        with av.open(os.fspath(path)) as container:  # fresh: positioned at the first frame
            stream = container.streams[stream_index]
            stream.thread_type = "AUTO"  # frame + slice threads; the seek cost model counts them
            stream.thread_count = DECODE_THREADS
            for run in runs:
                frames = _start(container, stream, timeline, run, path)
                yield from _targets(frames, timeline, run.targets, size, path)
    except av.error.FFmpegError as e:
        raise InputError(f"{path}: decoding failed ({ffmpeg_reason(e)}); the file may be corrupt") from e


def _targets(frames, timeline: Timeline, targets: list[int], size, path) -> Iterator[tuple[int, np.ndarray]]:
    if timeline.exact:
        positions = ((_pts(f), f) for f in frames)
    else:  # no usable pts (one run from the start): the n-th decoded frame is frame n
        positions = enumerate(frames)
    for t in targets:
        frame = _advance_to(positions, timeline.pts[t])
        if frame is None:
            raise InputError(f"{path}: frame {t} (t={_seconds(timeline, t)}) could not be decoded; "
                             "the file may be corrupt or truncated")
        yield t, _rgb(frame, size)


def _advance_to(positions, want: int):
    """The frame at position `want`, consuming those before it; None if it never comes."""
    for at, frame in positions:
        if at is None or at < want:
            continue
        return frame if at == want else None
    return None


def _start(container, stream, timeline: Timeline, run: DecodeRun, path) -> Iterator:
    """Decoded frames from a point at or before the run's first target."""
    if not run.seek:
        return _decoded(container, stream)
    target = timeline.pts[run.targets[0]]
    for seek_pts in _seek_points(timeline, run):
        container.seek(int(seek_pts), backward=True, stream=stream)
        frames = _decoded(container, stream)
        first = next(frames, None)
        if first is not None and (_pts(first) is None or _pts(first) <= target):
            return chain([first], frames)
    raise InputError(f"{path}: cannot seek to frame {run.targets[0]} "
                     f"(t={_seconds(timeline, run.targets[0])}); the file may be corrupt")


def _decoded(container, stream) -> Iterator:
    """Decoded frames from the demuxer's position, skipping packets that cannot be decoded.

    A truncated file ends in a partial packet, and a damaged one has broken packets; FFmpeg's
    tools skip those and go on, and so do we. A wanted frame that is lost this way is reported
    by `_targets`, so nothing is silently replaced.
    """
    for packet in container.demux(stream):
        if packet.is_corrupt:
            continue
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _seek_points(timeline: Timeline, run: DecodeRun) -> list[int]:
    """The target's pts; then the pts of its keyframe and the one before (a demuxer seeking on
    decode time lands at or before a keyframe when given its pts); then the first frame's."""
    j = int(np.searchsorted(timeline.keyframes, run.start, side="right"))  # keyframes[:j] <= start
    retries = timeline.keyframes[max(j - SEEK_RETRIES, 0):j][::-1]
    return [timeline.pts[run.targets[0]], *timeline.pts[retries], timeline.pts[0]]


def _pts(frame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def _rgb(frame, size: tuple[int, int]) -> np.ndarray:
    if (frame.width, frame.height) != size:
        return frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    return frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8


def _seconds(timeline: Timeline, index: int) -> str:
    return f"{float(timeline.times()[index]):.3f}s"
