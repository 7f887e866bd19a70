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

from dataclasses import dataclass

import numpy as np

from longva.data.video_timeline import Timeline

# Seek overhead in frame decodes, measured with benchmarks/video_decode.py (224 px, libx264,
# 2-core CPU, frame-threaded decoder): a seek + decode of one frame costs ~this many frames of
# a sequential pass. The choice is flat around the optimum, so a rough value is enough.
SEEK_COST = 8.0

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
