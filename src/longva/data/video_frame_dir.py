"""A directory of frame images read as a video (frames sorted naturally by file name).

Natural order puts `frame_2.png` before `frame_10.png`, which plain sorting does not.
A directory has no frame rate; it is given by the caller (default 1 fps, the V-NIAH rate).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from longva.data.images import load_image
from longva.data.video_info import VideoInfo
from longva.errors import InputError

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: 'f2' < 'f10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise InputError(f"{directory}: directory has no frame images; expected files ending in "
                         f"{', '.join(FRAME_SUFFIXES)}")
    return sorted(files, key=lambda p: natural_key(p.name))


class FrameDir:
    """Frame images of one directory; frame i is the i-th file in natural order."""

    def __init__(self, directory: Path, fps: float = 1.0):
        self.path = directory
        self.files = list_frames(directory)
        first = load_image(self.files[0])
        self.info = VideoInfo(
            num_frames=len(self.files), fps=fps, duration=len(self.files) / fps,
            width=first.width, height=first.height, keyframe_interval=1.0, codec="image",
            is_frame_dir=True,
        )

    def times(self) -> np.ndarray:
        return np.arange(self.info.num_frames, dtype=np.float64) / self.info.fps  # (F,) seconds

    def strategy_for(self, indices: np.ndarray, strategy: str) -> str:
        return "direct"  # every frame is its own file: random access is free

    def frames(self, indices: np.ndarray, strategy: str) -> Iterator[tuple[int, np.ndarray]]:
        """(index, (H, W, 3) uint8) for each of `indices` (ascending, distinct)."""
        for i in indices.tolist():
            image = load_image(self.files[i])
            if image.size != (self.info.width, self.info.height):
                raise InputError(f"{self.files[i]}: frame is {image.width}x{image.height} but the first "
                                 f"frame is {self.info.width}x{self.info.height}; expected equal sizes")
            yield i, np.asarray(image)
