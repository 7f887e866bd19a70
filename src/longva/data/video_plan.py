"""Plan how to decode a set of frames: where to seek and where to just keep decoding.

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
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from longva.data.video_timeline import Timeline


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
class Run:
    """Decode from `start` (after a seek when `seek`) forward through `targets` (ascending)."""

    start: int
    seek: bool
    targets: list[int]


def plan_reads(indices: np.ndarray, timeline: Timeline, strategy: str = "auto") -> list[Run]:
    """Runs that decode every distinct frame of `indices` (ascending) exactly once."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    seek_cost = {"auto": SEEK_COST, "seek": 0.0, "sequential": np.inf}[strategy]
    if not timeline.exact:  # frames are only identifiable by counting from the start
        seek_cost = np.inf
    runs: list[Run] = []
    position = 0  # next frame the decoder would return; a fresh decoder starts at frame 0
    for t in np.unique(indices).tolist():
        k = timeline.keyframe_before(t)
        if k - position <= seek_cost:  # keep decoding (also when k is already behind us)
            if not runs:
                runs.append(Run(0, False, []))
            runs[-1].targets.append(t)
        else:
            runs.append(Run(k, True, [t]))
        position = t + 1
    return runs


def plan_cost(runs: list[Run], seek_cost: float = SEEK_COST) -> float:
    """Modelled cost of `runs` in sequential frame decodes."""
    return sum(r.seek * seek_cost + r.targets[-1] - r.start + 1 for r in runs)


def describe(runs: list[Run]) -> str:
    """'seek' when the plan seeks at all after the start, else 'sequential'."""
    return "seek" if any(r.seek for r in runs) else "sequential"
