"""User visuals (a video file or frames, image files or PIL images) -> VisualInputs for the model.

As the original LongVA inference: a video is N frames sampled uniformly over the whole video
(`np.linspace(0, total - 1, N, dtype=int)`, N = 32 by default) or at a frame rate, each frame
preprocessed as one grid (`config.encoding.frame_mode`, center crop for LongVA); an image is cut
into UniRes grids. Each video or image later takes exactly one `<image>` placeholder; the video
comes first, then the images in the order given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from longva.errors import InputError
from longva.model.encoding import VisualInput

DEFAULT_NUM_FRAMES = 32  # LongVA's demo default

VideoLike = str | os.PathLike | np.ndarray | Sequence[Image.Image]  # or a data.video.SampledVideo
ImageLike = str | os.PathLike | Image.Image


@dataclass
class PreparedVisuals:
    inputs: list[VisualInput] = field(default_factory=list)  # in placeholder order
    frames_used: list[int] | None = None  # frame indices of the video in the file (None: no video)
    timestamps: list[float] | None = None  # seconds of those frames
    sources: list[str] = field(default_factory=list)  # a description per visual, for reports
    decode_seconds: float = 0.0  # reading and sampling the video/images
    preprocess_seconds: float = 0.0  # resizing/cropping/normalising to tensors


def prepare_visuals(
    processor,
    video: VideoLike | None = None,
    images: Sequence[ImageLike] | None = None,
    num_frames: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    frame_mode: str | None = None,
) -> PreparedVisuals:
    """Read and preprocess the visuals of one chat turn.

    num_frames defaults to 32 when fps is not given; with fps, num_frames (if given) caps the
    count uniformly. start/end (seconds) restrict sampling to [start, end) of a video file.
    frame_mode: "crop" | "pad" (default: the model config's `encoding.frame_mode`).
    """
    out = PreparedVisuals()
    if video is None and any(x is not None for x in (num_frames, fps, start, end)):
        raise InputError("frames/fps/start/end select frames of a video, but no video was given")
    if video is not None:
        frames = _read_video(video, num_frames, fps, start, end, out)  # (N, H, W, 3) uint8
        t0 = time.perf_counter()
        out.inputs.append(processor.preprocess_video(frames, mode=frame_mode))
        out.preprocess_seconds += time.perf_counter() - t0
    for image in images or []:
        pil = _read_image(image, out)
        t0 = time.perf_counter()
        out.inputs.append(processor.preprocess_image(pil))
        out.preprocess_seconds += time.perf_counter() - t0
    return out


def _read_video(video, num_frames, fps, start, end, out: PreparedVisuals):
    t0 = time.perf_counter()
    if isinstance(video, str | os.PathLike):
        from longva.data.video import load_video

        if num_frames is None and fps is None:
            num_frames = DEFAULT_NUM_FRAMES
        sampled = load_video(video, num_frames=num_frames, fps=fps, start=start, end=end)
        frames = sampled.frames
        out.frames_used = [int(i) for i in sampled.indices]
        out.timestamps = [float(t) for t in sampled.timestamps]
        out.sources.append(f"video {os.fspath(video)} ({len(frames)} of {sampled.info.num_frames} frames)")
    elif hasattr(video, "frames") and hasattr(video, "indices"):  # an already loaded SampledVideo
        frames = video.frames
        out.frames_used = [int(i) for i in video.indices]
        out.timestamps = [float(t) for t in getattr(video, "timestamps", [])] or None
        out.sources.append(f"video ({len(frames)} frames loaded)")
    else:
        frames = _frames_array(video)
        if fps is not None or start is not None or end is not None:
            raise InputError("fps/start/end apply to a video file; frames given in memory are used as they are")
        out.frames_used = list(range(len(frames)))
        out.sources.append(f"video ({len(frames)} frames given)")
    out.decode_seconds += time.perf_counter() - t0
    return frames


def _frames_array(video) -> list | np.ndarray:
    """In-memory frames: a (N, H, W, 3) uint8 array or a list of PIL images / arrays."""
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[-1] != 3:
            raise InputError(f"video frames have shape {video.shape}; expected (N, H, W, 3) uint8 RGB")
        return video
    frames = list(video)
    if not frames:
        raise InputError("the video has no frames; expected at least one")
    return frames


def _read_image(image: ImageLike, out: PreparedVisuals) -> Image.Image:
    t0 = time.perf_counter()
    if isinstance(image, Image.Image):
        pil = image.convert("RGB") if image.mode != "RGB" else image
        out.sources.append(f"image ({pil.width}x{pil.height})")
    elif isinstance(image, str | os.PathLike):
        from longva.data.images import load_image

        pil = load_image(image)
        out.sources.append(f"image {os.fspath(image)} ({pil.width}x{pil.height})")
    else:
        raise InputError(f"image of type {type(image).__name__}; expected a path or a PIL image")
    out.decode_seconds += time.perf_counter() - t0
    return pil
