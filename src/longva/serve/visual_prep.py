"""Local media files of one turn -> PreparedVisuals, with the frame cap checked before decoding.

Videos are sampled as `longva chat` samples them (uniform `num_frames`, or `fps`), one
placeholder per video or image in the order given. The frame count is checked against the
server's cap from the video's timeline alone, before any frame is decoded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from longva.data.video import load_video, open_video
from longva.errors import InputError
from longva.inference.visuals import PreparedVisuals, prepare_visuals
from longva.serve.media import MediaRef


@dataclass(frozen=True)
class Framing:
    num_frames: int | None  # uniform sampling (None with fps: every frame at that rate)
    fps: float | None
    max_frames: int

    @classmethod
    def of(
        cls, num_frames: int | None, fps: float | None, default_frames: int, max_frames: int
    ) -> Framing:
        """Uniform `default_frames` unless num_frames or fps is asked for; the cap is checked."""
        if num_frames is not None and num_frames > max_frames:
            raise InputError(
                f"num_frames={num_frames} is more than this server's cap of"
                f" {max_frames} frames per video; ask for fewer"
            )
        if num_frames is None and fps is None:
            num_frames = default_frames
        return cls(num_frames, fps, max_frames)


@dataclass
class TurnVisuals:
    prepared: PreparedVisuals  # inputs in placeholder order, sources, decode/preprocess seconds
    frames: list[list[int]] = field(default_factory=list)  # frame indices read, per video
    samples: list[np.ndarray] = field(
        default_factory=list
    )  # (F, H, W, 3) frames per video, if kept


def frame_count(path, framing: Framing) -> int:
    """Frames `framing` would read from this video (its timeline only, nothing decoded)."""
    return len(open_video(path).select(framing.num_frames, framing.fps).indices)


def prepare_media(
    processor, media: Sequence[MediaRef], framing: Framing, keep_frames: bool = False
) -> TurnVisuals:
    """Read and preprocess the visuals of one turn, in order."""
    out = TurnVisuals(PreparedVisuals())
    for ref in media:
        if ref.kind == "video":
            _add_video(processor, ref, framing, out, keep_frames)
        else:
            _merge(out.prepared, prepare_visuals(processor, images=[ref.path]))
    return out


def _add_video(
    processor, ref: MediaRef, framing: Framing, out: TurnVisuals, keep_frames: bool
) -> None:
    count = frame_count(ref.path, framing)
    if count > framing.max_frames:
        raise InputError(
            f"{ref.label}: fps={framing.fps} samples {count} frames, more than this server's"
            f" cap of {framing.max_frames} per video; lower fps or set num_frames"
        )
    t0 = time.perf_counter()
    sampled = load_video(ref.path, num_frames=framing.num_frames, fps=framing.fps)
    decode_s = time.perf_counter() - t0
    one = prepare_visuals(processor, video=sampled)
    one.decode_seconds += decode_s
    one.sources = [f"video {ref.label} ({len(sampled.frames)} of {sampled.info.num_frames} frames)"]
    _merge(out.prepared, one)
    out.frames.append([int(i) for i in sampled.indices])
    if keep_frames:
        out.samples.append(sampled.frames)


def _merge(into: PreparedVisuals, one: PreparedVisuals) -> None:
    into.inputs += one.inputs
    into.sources += one.sources
    into.decode_seconds += one.decode_seconds
    into.preprocess_seconds += one.preprocess_seconds
    if one.frames_used is not None and into.frames_used is None:  # the first video's, as chat
        into.frames_used, into.timestamps = one.frames_used, one.timestamps
