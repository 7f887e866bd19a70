"""The frame timeline of a video stream: which frames exist, when, and where the keyframes are.

Frame `i` of a video is the frame with the i-th smallest presentation timestamp (pts). Both the
seeking and the sequential reader match decoded frames to indices through this table, so the
two strategies return the same frame for the same index, also for variable frame rate and
B-frames (decode order != presentation order). Container headers are not trusted for the count
(mkv has none, a truncated mp4 over-reports): the table is built from the packets themselves.

Two ways to build it:
- mp4/mov keep a full sample index in memory after opening; when it is complete, inside the file
  and constant-rate, the table is read from it without touching the file data (~1 us/frame).
  PyAV exposes that index from version 16 on (`stream.index_entries`); with an older PyAV (e.g.
  the av<16 lmms-eval pins) the packets are read instead.
- otherwise every packet of the stream is demuxed (no decoding; ~7 us/packet, i.e. ~0.8 s for
  an hour at 30 fps).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice

import av
import numpy as np

from longva.errors import InputError

# Packets demuxed to check the pts grid inferred from an mp4 index (a few GOPs).
GRID_CHECK_PACKETS = 64


@dataclass(frozen=True)
class Timeline:
    pts: np.ndarray  # (F,) int64, strictly increasing; frame i is shown at pts[i]
    keyframes: np.ndarray  # (K,) int64, ascending frame indices at which decoding can start
    time_base: Fraction
    exact: bool  # False: pts missing or duplicated -> frames are matched by decode order only

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    def times(self) -> np.ndarray:
        """(F,) float64 seconds from the first frame."""
        # One rounding (ticks * num / den) keeps exact times exact: 90000 ticks of 1/90000 is
        # 1.0, not 0.9999999999999999, so a time range starting at 1.0 includes that frame.
        ticks = (self.pts - self.pts[0]) * self.time_base.numerator
        return ticks.astype(np.float64) / self.time_base.denominator

    def keyframe_before(self, index: int) -> int:
        """The last keyframe index <= index (0 when the stream starts without one)."""
        k = np.searchsorted(self.keyframes, index, side="right") - 1
        return int(self.keyframes[k]) if k >= 0 else 0


def build_timeline(container, stream, path: str | os.PathLike) -> Timeline:
    """The timeline of `stream` in a freshly opened `container`, which it leaves consumed.

    Raises InputError when the packets cannot be read or the stream holds no frame.
    """
    packets = read_packets(container, stream, path)  # (pts or None, is_keyframe), decode order
    head = list(islice(packets, GRID_CHECK_PACKETS))
    timeline = timeline_from_mp4_index(stream, head, path)
    if timeline is None:
        timeline = timeline_from_packets(head + list(packets), stream)
    if timeline.num_frames == 0:
        raise InputError(f"{path}: the video stream has no frames; expected a non-empty video")
    return timeline


def read_packets(container, stream, path) -> Iterator[tuple[int | None, bool]]:
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard or packet.is_corrupt:
                continue  # flush packet, edit-list cut, partial packet of a truncated file
            yield (packet.pts if packet.pts is not None else packet.dts), packet.is_keyframe
    except av.error.FFmpegError as e:
        raise InputError(f"{path}: cannot read the video packets ({ffmpeg_reason(e)}); "
                         "expected an intact video file") from e


def timeline_from_packets(packets: list[tuple[int | None, bool]], stream) -> Timeline:
    """Sort packets (decode order) into presentation order; keyframe flags move with them."""
    missing = any(ts is None for ts, _ in packets)
    pts = np.asarray([i if ts is None else ts for i, (ts, _) in enumerate(packets)], np.int64)
    keys = np.asarray([key for _, key in packets], bool)
    order = np.argsort(pts, kind="stable")
    exact = not missing and bool(np.all(np.diff(pts[order]) > 0))
    time_base = Fraction(stream.time_base)
    if exact:
        pts, keys = pts[order], keys[order]
    else:  # pts missing or duplicated: decode order is the only order left, times are nominal
        pts = np.arange(len(pts), dtype=np.int64)
        time_base = 1 / Fraction(stream.average_rate or stream.guessed_rate or 1)
    return Timeline(pts, np.flatnonzero(keys).astype(np.int64), time_base, exact)


def timeline_from_mp4_index(stream, head, path) -> Timeline | None:
    """Timeline from the in-memory mp4 sample index, or None when it cannot be trusted.

    head: the first packets (decode order), used to find the pts grid the index implies.
    """
    entries = getattr(stream, "index_entries", None)  # PyAV >= 16; older: read the packets
    if entries is None:
        return None
    n = len(entries)
    if n < 2 or n != stream.frames:  # only mov/mp4 index every sample at open
        return None
    last = entries[n - 1]
    if last.pos + last.size > os.path.getsize(path) or any(e.is_discard for e in entries):
        return None  # an index pointing past a truncated file, or edit-list cuts
    dts = np.fromiter((e.timestamp for e in entries), np.int64, n)
    step = int(dts[1] - dts[0])
    if step <= 0 or np.any(np.diff(dts) != step):
        return None  # variable frame rate: pts are not a grid, use the packets
    first = np.sort(np.asarray([ts for ts, _ in head if ts is not None], np.int64))
    if len(first) < min(n, len(head)) or np.any((first - first[0]) % step) or np.any(np.diff(first) == 0):
        return None  # pts missing or off the dts grid (odd muxer): use the packets
    pts = first[0] + step * np.arange(n, dtype=np.int64)
    keys = np.fromiter((e.is_keyframe for e in entries), bool, n)
    # A keyframe's decode position equals its presentation index for closed GOPs. Only the
    # cost model uses these positions (seeks are checked against decoded pts), so an open GOP
    # costs a little speed, never correctness.
    return Timeline(pts, np.flatnonzero(keys).astype(np.int64), Fraction(stream.time_base), True)


def ffmpeg_reason(error: Exception) -> str:
    """FFmpeg's message without the errno and file name PyAV adds."""
    return getattr(error, "strerror", None) or str(error).split(":")[0]
