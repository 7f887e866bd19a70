"""Fixtures for video/image tests: tiny real videos whose frames carry their own index.

Each 64x64 frame shows its index as 16 bits, one bit per 16x16 block (white = 1), aligned
with the codec's 16x16 macroblocks so that lossy h264/mpeg4 coding cannot flip a bit. Reading
the bits back tells which frame a decoder really returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from longva.data.video_writer import write_video

SIZE = 64
BLOCK = 16  # 4x4 blocks = 16 bits


def index_frame(index: int) -> np.ndarray:
    """(64, 64, 3) uint8 frame showing `index` in binary."""
    bits = (index >> np.arange(16)) & 1  # (16,) little-endian bits
    grid = bits.reshape(4, 4).astype(np.uint8) * 255
    return np.repeat(np.repeat(grid, BLOCK, 0), BLOCK, 1)[..., None].repeat(3, axis=2)


def read_index(frame: np.ndarray) -> int:
    """The index shown by a decoded (64, 64, 3) frame (block centres, so edges may blur)."""
    centres = frame.reshape(4, BLOCK, 4, BLOCK, 3)[:, 4:12, :, 4:12].mean(axis=(1, 3, 4))  # (4, 4)
    bits = (centres.reshape(16) > 127).astype(np.int64)
    return int((bits << np.arange(16)).sum())


def read_indices(frames: np.ndarray) -> list[int]:
    return [read_index(f) for f in frames]


@dataclass(frozen=True)
class VideoCase:
    path: Path
    num_frames: int
    fps: float
    gop: int
    timestamps: np.ndarray | None = None  # (F,) seconds, for variable frame rate


def _write(path: Path, n: int, fps: float, codec: str = "libx264", gop: int = 4, **kw) -> VideoCase:
    write_video(path, (index_frame(i) for i in range(n)), fps=fps, codec=codec, gop=gop, **kw)
    return VideoCase(path, n, fps, gop, kw.get("timestamps"))


# Irregular gaps (seconds): bursts and pauses, as in phone or screen recordings.
VFR_GAPS = [0.1, 0.05, 0.85, 0.05, 1.9, 0.25, 0.25, 0.5, 0.04, 0.96, 0.3, 0.7] * 3


@pytest.fixture(scope="session")
def frame_code():
    """The index <-> frame code: `frame_code.index_frame(i)`, `frame_code.read_indices(frames)`."""

    class FrameCode:
        index_frame = staticmethod(index_frame)
        read_indices = staticmethod(read_indices)

    return FrameCode


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, VideoCase]:
    """h264 (B-frames) with short and long GOP, mpeg4, mkv (no frame count), VFR mp4/mkv."""
    root = tmp_path_factory.mktemp("videos")
    vfr_times = np.concatenate([[0.0], np.cumsum(VFR_GAPS)])  # (37,)
    return {
        "h264_gop4": _write(root / "h264_gop4.mp4", 40, fps=4, gop=4),
        "h264_gop64": _write(root / "h264_gop64.mp4", 150, fps=5, gop=64),
        "mpeg4_gop4": _write(root / "mpeg4_gop4.mp4", 40, fps=4, codec="mpeg4", gop=4),
        "h264_mkv": _write(root / "h264_gop8.mkv", 40, fps=4, gop=8),
        "vfr_mp4": _write(root / "vfr.mp4", len(vfr_times), fps=2, gop=6, timestamps=vfr_times),
        "vfr_mkv": _write(root / "vfr.mkv", len(vfr_times), fps=2, gop=6, timestamps=vfr_times),
    }


@pytest.fixture(scope="session")
def audio_only(tmp_path_factory) -> Path:
    """A one-second silent WAV file (an audio stream, no video)."""
    path = tmp_path_factory.mktemp("audio") / "silence.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
