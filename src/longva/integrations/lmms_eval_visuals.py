"""What a task's `doc_to_visual` returns -> this model's visual features, one block per `<image>`.

lmms-eval hands a simple model whatever the task returns: PIL images for image tasks, file
paths for video tasks (the model decodes them), sometimes image paths. Each item is one
visual: a PIL image or an image file (by suffix) is cut into UniRes/AnyRes grids; any other
path is a video, `max_frames_num` frames sampled uniformly as LongVA (`np.linspace(0, N - 1,
n)`), read by `longva.data`'s frame-accurate PyAV reader whichever `video_decode_backend` is
named. With `token_strategy=multiple` a video gets one placeholder per frame.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path

from PIL import Image

from longva.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def flatten(visuals) -> list:
    """A doc's visuals as a flat list (None / [] -> no visuals; nested lists are flattened once)."""
    if visuals is None:
        return []
    if not isinstance(visuals, list | tuple):
        visuals = [visuals]
    out = []
    for item in visuals:
        out.extend(item if isinstance(item, list | tuple) else [item])
    return out


def kind_of(item) -> str:
    if isinstance(item, Image.Image):
        return "image"
    if isinstance(item, str | os.PathLike):
        return "image" if Path(item).suffix.lower() in IMAGE_SUFFIXES else "video"
    raise InputError(
        f"a task visual of type {type(item).__name__}; expected a PIL image, an image"
        " file or a video file path (audio and other inputs are not supported)"
    )


def visuals_key(items: Sequence, max_frames: int, token_strategy: str) -> Hashable | None:
    """A key naming these visuals when they are all files (None: in-memory images, no reuse)."""
    if not items or any(isinstance(i, Image.Image) for i in items):
        return None
    return (tuple(os.fspath(i) for i in items), max_frames, token_strategy)


def encode_items(model, processor, items: Sequence, max_frames: int, token_strategy: str) -> list:
    """Visual features in placeholder order: [(tokens, D)] (a video split per frame if asked)."""
    from longva.inference.generation import encode_visuals

    blocks = []
    for item in items:
        kind = kind_of(item)
        visual = _video(processor, item, max_frames) if kind == "video" else _image(processor, item)
        (features,) = encode_visuals(model, [visual])  # (tokens, D)
        if kind == "video" and token_strategy == "multiple":
            blocks.extend(features.split(model.tokens_per_frame))  # one (t, D) view per frame
        else:
            blocks.append(features)
    return blocks


def _video(processor, path, max_frames: int):
    from longva.data.video import load_video

    clip = load_video(path, num_frames=max_frames)
    return processor.preprocess_video(clip.frames)


def _image(processor, item):
    if isinstance(item, Image.Image):
        image = item.convert("RGB") if item.mode != "RGB" else item
    else:
        from longva.data.images import load_image

        image = load_image(item)
    return processor.preprocess_image(image)
