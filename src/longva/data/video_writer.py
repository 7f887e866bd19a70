"""Write RGB frames to a video file with PyAV (tests, benchmarks, synthetic V-NIAH haystacks).

The file appears atomically: frames are encoded into a hidden temp file next to the target and
renamed over it at the end, so an interrupted run never leaves a half-written video that a
cache check would mistake for a finished one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from longva.utils.io import atomic_path

# Timestamps of variable-frame-rate output are rounded to this clock (the MPEG 90 kHz clock).
VFR_TIME_BASE = Fraction(1, 90_000)

# mpeg4's default rate control targets ~200 kb/s whatever the frame rate, which at 1 fps leaves
# a few hundred bytes per frame and washes the colours out; a fixed quantiser keeps them.
MPEG4_QSCALE = 3
FF_QP2LAMBDA = 118  # libavcodec: lambda units per quantiser step


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float = 1.0,
    codec: str = "libx264",
    gop: int = 12,
    pix_fmt: str = "yuv420p",
    bit_rate: int | None = None,
    timestamps: Sequence[float] | None = None,
    crf: int = 23,
    preset: str = "veryfast",
) -> Path:
    """Encode `frames` (each (H, W, 3) uint8 RGB, all the same size) into `path`.

    gop: keyframe interval in frames (exact for libx264: scene-cut keyframes are disabled).
    bit_rate: target bits/s; None -> crf for libx264, a fixed quantiser for mpeg4.
    timestamps: optional presentation time in seconds of every frame (strictly increasing) for
        variable-frame-rate output; `fps` then only sets the nominal rate in the header.
    The container follows the suffix (.mp4, .mkv, ...). Returns the path.
    """
    path = Path(path)
    with atomic_path(path, suffix=f".tmp{path.suffix}") as tmp:  # the suffix tells FFmpeg the container
        _encode(str(tmp), frames, fps, codec, gop, pix_fmt, bit_rate, timestamps, crf, preset)
    return path


def _encode(tmp, frames, fps, codec, gop, pix_fmt, bit_rate, timestamps, crf, preset) -> None:
    with av.open(tmp, "w") as container:
        stream = None
        for i, rgb in enumerate(frames):  # rgb: (H, W, 3) uint8
            if stream is None:
                stream = _add_stream(container, rgb.shape, fps, codec, gop, pix_fmt, bit_rate,
                                     timestamps is not None, crf, preset)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if timestamps is not None:
                frame.pts = round(timestamps[i] / VFR_TIME_BASE)
                frame.time_base = VFR_TIME_BASE
            container.mux(stream.encode(frame))
        if stream is None:
            raise ValueError(f"write_video({tmp}): no frames given")
        container.mux(stream.encode(None))  # flush delayed (B-)frames


def _add_stream(container, shape, fps, codec, gop, pix_fmt, bit_rate, vfr, crf, preset):
    height, width = shape[:2]
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    cc = stream.codec_context
    cc.gop_size = gop
    if vfr:
        cc.time_base = VFR_TIME_BASE
        stream.time_base = VFR_TIME_BASE
    if codec == "libx264":
        # keyint_min = gop and no scene cuts: exactly one keyframe every `gop` frames.
        options = {"preset": preset, "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        if bit_rate is None:
            options["crf"] = str(crf)
        stream.options = options
    if bit_rate is not None:
        cc.bit_rate = bit_rate
    elif codec == "mpeg4" and hasattr(cc, "global_quality"):  # PyAV >= 16
        cc.qscale = True
        cc.global_quality = MPEG4_QSCALE * FF_QP2LAMBDA
    elif codec == "mpeg4":  # older PyAV (the av<16 lmms-eval pins): the same as codec options
        stream.options = {"flags": "+qscale", "global_quality": str(MPEG4_QSCALE * FF_QP2LAMBDA)}
    return stream
