"""Bundled examples for the page: short synthetic videos made by the package at start-up.

Nothing is downloaded: the "movie" is `longva.niah`'s procedural haystack (moving shapes on
panning gradients) and the colour cards are solid frames with their colour's name, both
encoded with `longva.data`'s video writer. About a second to write, once per server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from longva.data.video_writer import write_video
from longva.niah.haystack import SyntheticHaystack

CARD_COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 70),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
}


@dataclass(frozen=True)
class Example:
    path: Path
    question: str


def write_examples(folder: Path) -> list[Example]:
    """Write the example videos into `folder` (skipped when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    movie, cards = folder / "synthetic_movie.mp4", folder / "colour_cards.mp4"
    if not movie.exists():
        haystack = SyntheticHaystack(seed=7, width=320, height=180, scene_length=24)
        write_video(movie, (haystack.frame(i) for i in range(72)), fps=8, gop=24)
    if not cards.exists():
        write_video(cards, colour_cards(), fps=4, gop=8)
    return [
        Example(movie, "What happens in this video?"),
        Example(cards, "Which colours appear, in order?"),
    ]


def colour_cards(
    frames_per_colour: int = 6, size: tuple[int, int] = (320, 180)
) -> list[np.ndarray]:
    """Solid frames (H, W, 3) uint8, one colour after another, each with its name written on it."""
    frames = []
    for name, rgb in CARD_COLOURS.items():
        card = Image.new("RGB", size, rgb)
        ImageDraw.Draw(card).text((12, 12), name, fill=(255, 255, 255))
        frames += [np.asarray(card)] * frames_per_colour
    return frames
