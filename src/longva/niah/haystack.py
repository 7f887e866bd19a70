"""Haystacks: the long videos a needle frame is hidden in.

- `VideoHaystack`: any local video, sampled like the original (`produce_haystack_embedding.py`:
  every round(avg_fps)-th frame, i.e. 1 fps) or `num_frames` frames spread uniformly
  (decoding by `longva.data.video`).
- `SyntheticHaystack`: procedural frames (gradients, smooth textures, moving shapes, a scene
  change every `scene_length` frames), deterministic by seed, endless, and with a `saturation`
  knob so a toy setting can use muted haystacks around a saturated needle.

Frames are (H, W, 3) uint8 RGB arrays. Before encoding they are padded to a square with the
mean colour and resized (`LongVAProcessor.preprocess_frames(mode="pad")`, the original's "pad"
aspect ratio), so the whole frame stays visible (video inference crops instead).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from longva.errors import InputError
from longva.niah.embedding_cache import file_fingerprint


@dataclass
class VideoHaystack:
    """A local video (or frame folder) sampled at `fps` (default 1, as the original) or as
    `num_frames` uniformly spaced frames; read through `longva.data.video` batch by batch."""

    path: Path
    fps: float | None = 1.0
    num_frames: int | None = None

    def __post_init__(self):
        from longva.data.video import open_video

        self.path = Path(self.path)
        if not self.path.exists():
            raise InputError(
                f"haystack video {str(self.path)!r} does not exist; expected a video file, a frame folder or "
                "'synthetic'"
            )
        self._source = open_video(self.path)
        fps = None if self.num_frames is not None else (self.fps or 1.0)
        with warnings.catch_warnings():  # a clamp shows up as a short haystack (check_length)
            warnings.simplefilter("ignore")
            self._indices = self._source.select(num_frames=self.num_frames, fps=fps).indices  # (N,)

    def __len__(self) -> int:
        return len(self._indices)

    def identity(self) -> dict:
        fingerprint = (
            file_fingerprint(self.path) if self.path.is_file() else str(self.path.resolve())
        )
        sampling = {"fps": self.fps} if self.num_frames is None else {"num_frames": self.num_frames}
        return {"kind": "video", "file": fingerprint, "sampling": sampling}

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        """Sampled frames (H, W, 3) from sample index `start` on."""
        for _, batch in self._source.iter_frames(self._indices[start:], batch_size=32):
            yield from batch


@dataclass
class SyntheticHaystack:
    """Endless procedural 'movie': frame i depends only on (seed, i)."""

    seed: int = 0
    width: int = 320
    height: int = 180  # 16:9, so padding to square matters as with a real movie
    saturation: float = 1.0  # 0 = grey, 1 = full colour
    scene_length: int = 30  # frames per scene (a 'cut' every 30 s at 1 fps)

    def __len__(self) -> int:
        return 1 << 40  # unbounded

    def identity(self) -> dict:
        return {
            "kind": "synthetic",
            **{
                k: getattr(self, k)
                for k in ("seed", "width", "height", "saturation", "scene_length")
            },
        }

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        i = start
        while True:
            yield self.frame(i)
            i += 1

    def frame(self, i: int) -> np.ndarray:
        scene, t = divmod(i, self.scene_length)
        rng = np.random.default_rng([self.seed, scene])
        canvas = self._background(rng, t)
        image = Image.fromarray(canvas)
        self._shapes(ImageDraw.Draw(image), rng, t)
        noise = np.random.default_rng([self.seed, scene, t, 1]).normal(
            0, 4, canvas.shape
        )  # sensor grain
        return np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)

    def _color(self, rng) -> np.ndarray:
        rgb = rng.uniform(0, 255, 3)
        grey = rgb.mean()
        return grey + self.saturation * (rgb - grey)

    def _background(self, rng, t: int) -> np.ndarray:
        h, w = self.height, self.width
        c0, c1 = self._color(rng), self._color(rng)
        angle = rng.uniform(0, 2 * math.pi) + 0.01 * t  # the 'camera' pans slowly
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1) / 2  # (h, w) in [0, 1]
        base = c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]
        blobs = rng.uniform(-1, 1, (4, 7, 3)).astype(np.float32)  # a smooth texture
        texture = np.stack(
            [
                np.asarray(Image.fromarray(blobs[..., k]).resize((w, h), Image.BILINEAR))
                for k in range(3)
            ],
            -1,
        )
        grey = texture.mean(-1, keepdims=True)
        texture = grey + self.saturation * (texture - grey)
        return np.clip(base + 40 * texture, 0, 255).astype(np.uint8)

    def _shapes(self, draw: ImageDraw.ImageDraw, rng, t: int) -> None:
        h, w = self.height, self.width
        for _ in range(int(rng.integers(2, 6))):
            kind = int(rng.integers(0, 3))
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            vx, vy = rng.uniform(-3, 3, 2)  # pixels per frame
            r = rng.uniform(0.05, 0.2) * h
            fill = tuple(int(v) for v in np.clip(self._color(rng), 0, 255))
            x, y = (cx + vx * t) % w, (cy + vy * t) % h
            box = (x - r, y - r, x + r, y + r)
            if kind == 0:
                draw.ellipse(box, fill=fill)
            elif kind == 1:
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=fill)


def open_haystack(
    spec: str | os.PathLike, fps: float | None = 1.0, num_frames: int | None = None, **synthetic
):
    """'synthetic' (options in `synthetic`) or a path to a local video."""
    if str(spec) == "synthetic":
        return SyntheticHaystack(**synthetic)
    return VideoHaystack(Path(spec), fps=fps, num_frames=num_frames)


def check_length(haystack, needed: int, flag: str = "--frames") -> None:
    """A haystack shorter than the largest frame count is an error (never a silent clamp)."""
    if len(haystack) < needed:
        raise InputError(
            f"haystack has {len(haystack)} sampled frames but {flag} asks for up to {needed};"
            f" expected a longer video, a higher sampling rate, or {flag} with max <= {len(haystack)}"
        )
