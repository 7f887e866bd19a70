"""A video file read with PyAV: open with clear errors, index its frames, decode by plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from longva.data.video_decode import decode_plan, describe, plan_reads
from longva.data.video_info import file_info
from longva.data.video_timeline import build_timeline, ffmpeg_reason
from longva.errors import InputError

EXPECTED = "expected a video file (mp4, mkv, webm, avi, ...) or a directory of frames"


class VideoFile:
    """An indexed video file. Decoding opens its own container per call, so calls never share
    a decoder position and nothing stays open between them."""

    def __init__(self, path: Path):
        self.path = path
        with _open_container(path) as container:
            stream = _video_stream(container, path)
            self.stream_index = stream.index
            self.timeline = build_timeline(container, stream, path)
            self.info = file_info(stream, self.timeline)

    def times(self) -> np.ndarray:
        return self.timeline.times()  # (F,) seconds from the first frame

    def strategy_for(self, indices: np.ndarray, strategy: str) -> str:
        return describe(plan_reads(indices, self.timeline, strategy))

    def frames(self, indices: np.ndarray, strategy: str) -> Iterator[tuple[int, np.ndarray]]:
        """(index, (H, W, 3) uint8) for each of `indices` (ascending, distinct)."""
        runs = plan_reads(indices, self.timeline, strategy)
        size = (self.info.width, self.info.height)
        return decode_plan(self.path, self.stream_index, self.timeline, runs, size)


def _open_container(path: Path):
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes); {EXPECTED}")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as e:
        raise InputError(f"{path}: cannot be read as a video ({ffmpeg_reason(e)}: corrupt, truncated "
                         f"or not a video); {EXPECTED}") from e


def _video_stream(container, path: Path):
    """The first real video stream (cover art in audio files is a one-picture 'video')."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    found = ", ".join(sorted({s.type for s in container.streams})) or "none"
    raise InputError(f"{path}: has no video stream (streams: {found}); {EXPECTED}")
