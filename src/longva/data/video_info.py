"""What a video is: frame count, rate, duration, size, keyframe spacing, codec."""

from __future__ import annotations

from dataclasses import dataclass

from longva.data.video_timeline import Timeline


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int  # frames a reader will return (counted from packets, not the header)
    fps: float  # average frame rate (the container's, like decord's get_avg_fps)
    duration: float  # seconds from the first frame's start to the last frame's end
    width: int
    height: int
    keyframe_interval: float  # mean frames per keyframe (GOP); 1.0 for a frame directory
    codec: str  # e.g. "h264", "mpeg4"; "image" for a frame directory
    is_frame_dir: bool


def file_info(stream, timeline: Timeline) -> VideoInfo:
    """Info of a PyAV video stream whose frames are described by `timeline`."""
    n = timeline.num_frames
    span = float(timeline.times()[-1])  # first to last frame start
    fps = _container_fps(stream) or ((n - 1) / span if span > 0 else 1.0)
    return VideoInfo(
        num_frames=n,
        fps=fps,
        duration=span + 1.0 / fps,  # the last frame lasts one average frame
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        keyframe_interval=n / max(len(timeline.keyframes), 1),
        codec=stream.codec_context.name,
        is_frame_dir=False,
    )


def _container_fps(stream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None
