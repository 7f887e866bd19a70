"""Drawn needles for the task generators: a coloured shape on a muted texture.

Shapes differ in outline, so "the square", "the circle" name one needle each; colours come
from `synthetic_needles.COLORS`. Everything is drawn from an rng, so a seed fixes the images.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from longva.niah.synthetic_needles import COLORS

SHAPES = ("square", "circle", "triangle", "diamond", "cross", "star")


def shape_image(shape: str, colour: str, size: int, rng: np.random.Generator) -> Image.Image:
    """A `colour` `shape` centred on a smooth muted background, (size, size) RGB."""
    blobs = rng.uniform(90, 200, (5, 5, 3)).astype(np.uint8)
    image = Image.fromarray(blobs).resize((size, size), Image.BICUBIC)
    draw, fill = ImageDraw.Draw(image), COLORS[colour]
    c, r = size / 2, size * 0.3
    if shape == "square":
        draw.rectangle((c - r, c - r, c + r, c + r), fill=fill)
    elif shape == "circle":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=fill)
    elif shape == "triangle":
        draw.polygon([(c, c - r), (c + r, c + r), (c - r, c + r)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(c, c - r), (c + r, c), (c, c + r), (c - r, c)], fill=fill)
    elif shape == "cross":
        w = r / 3
        draw.rectangle((c - w, c - r, c + w, c + r), fill=fill)
        draw.rectangle((c - r, c - w, c + r, c + w), fill=fill)
    elif shape == "star":
        pts = [
            (
                c + (r if k % 2 == 0 else r / 2.5) * math.sin(k * math.pi / 5),
                c - (r if k % 2 == 0 else r / 2.5) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
        draw.polygon(pts, fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return image
