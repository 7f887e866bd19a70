"""Shared pieces of the task generators: drawing a needle into the folder, option lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from longva.niah.synthetic_needles import COLORS, SHORT
from longva.niah.tasks.images import SHAPES, shape_image

NUMBER = "Answer with a single number."


class Drawer:
    """Writes `images/<name>.png` needles into a folder (each drawn once)."""

    def __init__(self, folder: Path, size: int, rng: np.random.Generator):
        self.folder, self.size, self.rng = folder, size, rng
        (folder / "images").mkdir(parents=True, exist_ok=True)

    def needle(self, shape: str, colour: str) -> str:
        name = f"images/{colour.lower()}_{shape}.png"
        if not (self.folder / name).exists():
            shape_image(shape, colour, self.size, self.rng).save(self.folder / name)
        return name


def colours(rng: np.random.Generator, k: int, exclude: tuple[str, ...] = ()) -> list[str]:
    pool = [c for c in COLORS if c not in exclude]
    return [str(c) for c in rng.choice(pool, size=k, replace=False)]


def shapes(rng: np.random.Generator, k: int) -> list[str]:
    return [str(s) for s in rng.choice(SHAPES, size=k, replace=False)]


def colour_options(rng: np.random.Generator, answer: str, n: int = 4) -> list[str]:
    options = [answer, *colours(rng, n - 1, exclude=(answer,))]
    rng.shuffle(options)
    return options


def ask(text: str, instruction: str = SHORT) -> str:
    """A question as the synthetic needles ask it (LongVA layout: after the video, "\\n")."""
    return f"\n{text}\n{instruction}"
