"""Synthetic counterfactual needles rendered with PIL: a V-NIAH needle set with no downloads.

The original needles are counter-common-sense images (a panda scientist, a balloon on a groom's
head) with a locating prompt ("Find the frame of ..."). These are their drawable cousins:
- `square`: a saturated coloured square on a textured background -> its colour (the small,
  learnable needle of the toy recipe);
- `object`: an everyday object with an impossible attribute (a purple sun, a blue tree, a
  square wheel) -> that attribute;
- `digit`: a large digit in a colour -> the digit;
- `text`: a sign with a word on it -> the word.
Answers are single words (or an option letter with `options=True`). Everything is drawn from
`seed`, so the same call writes the same images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from longva.errors import InputError
from longva.niah.needles import OPTION_LETTERS
from longva.utils.io import atomic_write_text

COLORS: dict[str, tuple[int, int, int]] = {
    "Red": (230, 30, 30),
    "Green": (30, 190, 50),
    "Blue": (30, 70, 230),
    "Yellow": (250, 220, 20),
    "Purple": (140, 40, 200),
    "Orange": (250, 130, 10),
    "Pink": (250, 100, 190),
    "Cyan": (20, 220, 230),
}
WORDS = ("LONG", "VIDEO", "NEEDLE", "PANDA", "ROCKET", "TIGER", "CLOUD", "PIANO")
SHORT = "Answer the question using a single word or phrase."
KINDS = ("square", "object", "digit", "text")
# object -> the colour it usually has (never drawn with it: that is the counterfactual)
OBJECTS = {"sun": "Yellow", "tree": "Green", "banana": "Yellow", "heart": "Red"}
WHEEL_SHAPES = ("Square", "Triangle")


@dataclass(frozen=True)
class NeedleSpec:
    kind: str
    question: str  # the locating prompt + the question (starts with "\n", as the original)
    answer: str
    draw_args: dict


def generate_needles(
    out_dir: str | os.PathLike,
    n: int = 5,
    size: int = 336,
    kinds: Sequence[str] = KINDS,
    colors: Sequence[str] | None = None,
    words: Sequence[str] = WORDS,
    options: bool = False,
    background: str = "texture",
    seed: int = 0,
) -> Path:
    """Write `n` needles (`images/needle_XXX.png` + `needles.jsonl`) into `out_dir`.

    kinds: cycled over the needles. colors: the colour answer vocabulary (names of `COLORS`).
    options: ask multiple choice (4 options, answer = letter) instead of a single word.
    background: "texture" (smooth random blobs) or "plain" (light grey).
    """
    palette = _palette(colors)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds or n < 1 or size < 16:
        raise InputError(
            f"synthetic needles: kinds {list(kinds)}, n {n}, size {size}; expected kinds from {KINDS}, n >= 1, size "
            ">= 16"
        )
    if background not in BACKGROUNDS:  # checked before the folder is made
        raise InputError(f"synthetic needle background {background!r}: expected 'texture' or 'plain'")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        spec = _spec(kinds[i % len(kinds)], rng, palette, list(words))
        image = _background(size, background, rng)
        _draw(ImageDraw.Draw(image), spec, size, palette)
        name = f"images/needle_{i:03d}.png"
        image.save(out / name)
        lines.append(_row(i, name, spec, rng, palette, list(words), options))
    atomic_write_text(
        out / "needles.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)
    )
    return out


def _palette(colors: Sequence[str] | None) -> dict[str, tuple[int, int, int]]:
    names = list(colors) if colors else list(COLORS)
    unknown = [c for c in names if c not in COLORS]
    if unknown or len(names) < 2:
        raise InputError(
            f"synthetic needle colours {names}: expected at least 2 of {', '.join(COLORS)}"
        )
    return {c: COLORS[c] for c in names}


def _spec(kind: str, rng, palette: dict, words: list[str]) -> NeedleSpec:
    color = str(rng.choice(list(palette)))
    if kind == "square":
        q = "\nFind the frame with a coloured square. What colour is the square?"
        return NeedleSpec(kind, q, color, {"color": color})
    if kind == "digit":
        digit = str(int(rng.integers(0, 10)))
        q = "\nFind the frame showing a large digit. Which digit is shown?"
        return NeedleSpec(kind, q, digit, {"color": color, "digit": digit})
    if kind == "text":
        word = str(rng.choice(words))
        q = "\nFind the frame with a sign. What word is written on the sign?"
        return NeedleSpec(kind, q, word, {"color": color, "word": word})
    thing = str(rng.choice([*OBJECTS, "wheel"]))
    if thing == "wheel":
        shape = str(rng.choice(WHEEL_SHAPES))
        q = "\nFind the frame with a wheel. What shape is the wheel?"
        return NeedleSpec(kind, q, shape, {"thing": thing, "shape": shape, "color": color})
    unusual = [c for c in palette if c != OBJECTS[thing]]
    color = str(rng.choice(unusual))
    q = f"\nFind the frame with a {thing}. What colour is the {thing}?"
    return NeedleSpec(kind, q, color, {"thing": thing, "color": color})


def _row(i: int, name: str, spec: NeedleSpec, rng, palette, words, options: bool) -> dict:
    row = {
        "id": f"needle_{i:03d}_{spec.kind}",
        "image": name,
        "question": spec.question + "\n" + SHORT,
        "answer": spec.answer,
    }
    if options:
        pool = _distractor_pool(spec, palette, words)
        choices = [
            spec.answer,
            *rng.choice([p for p in pool if p != spec.answer], size=3, replace=False).tolist(),
        ]
        rng.shuffle(choices)
        row["question"] = spec.question
        row["options"] = choices
        row["answer"] = OPTION_LETTERS[choices.index(spec.answer)]
    return row


def _distractor_pool(spec: NeedleSpec, palette, words) -> list[str]:
    if spec.kind == "digit":
        return [str(d) for d in range(10)]
    if spec.kind == "text":
        return list(dict.fromkeys([*words, *WORDS]))
    if spec.draw_args.get("thing") == "wheel":
        return ["Round", "Square", "Triangle", "Star", "Oval"]
    return list(dict.fromkeys([*palette, *COLORS]))


BACKGROUNDS = ("texture", "plain")


def _background(size: int, kind: str, rng) -> Image.Image:
    if kind == "plain":
        return Image.new("RGB", (size, size), (225, 225, 225))
    if kind != "texture":
        raise InputError(f"synthetic needle background {kind!r}: expected 'texture' or 'plain'")
    blobs = rng.uniform(90, 200, (5, 5, 3)).astype(np.uint8)  # muted, so the needle pops out
    return Image.fromarray(blobs).resize((size, size), Image.BICUBIC)


def _font(px: int):
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def _draw(draw: ImageDraw.ImageDraw, spec: NeedleSpec, size: int, palette) -> None:
    args, s = spec.draw_args, size
    fill = palette.get(args.get("color"), COLORS.get(args.get("color"), (0, 0, 0)))
    if spec.kind == "square":
        draw.rectangle((s * 0.25, s * 0.25, s * 0.75, s * 0.75), fill=fill)
    elif spec.kind == "digit":
        draw.text((s / 2, s / 2), args["digit"], fill=fill, font=_font(int(s * 0.7)), anchor="mm")
    elif spec.kind == "text":
        draw.rectangle(
            (s * 0.08, s * 0.3, s * 0.92, s * 0.7),
            fill=(250, 250, 245),
            outline=(40, 40, 40),
            width=max(1, s // 60),
        )
        draw.text(
            (s / 2, s / 2),
            args["word"],
            fill=(20, 20, 20),
            font=_font(int(s * 0.8 / max(4, len(args["word"])))),
            anchor="mm",
        )
    else:
        _draw_object(draw, args, s, fill)


def _draw_object(draw: ImageDraw.ImageDraw, args: dict, s: int, fill) -> None:
    c, r = s / 2, s * 0.22
    thing = args["thing"]
    if thing == "sun":
        for k in range(12):  # rays
            a = k * np.pi / 6
            draw.line(
                (c, c, c + 1.7 * r * np.cos(a), c + 1.7 * r * np.sin(a)),
                fill=fill,
                width=max(1, s // 50),
            )
        draw.ellipse((c - r, c - r, c + r, c + r), fill=fill)
    elif thing == "tree":
        draw.rectangle((c - r * 0.2, c, c + r * 0.2, c + 2 * r), fill=(110, 70, 30))
        draw.ellipse((c - 1.3 * r, c - 1.6 * r, c + 1.3 * r, c + 0.4 * r), fill=fill)
    elif thing == "banana":
        draw.chord((c - 1.6 * r, c - 1.6 * r, c + 1.6 * r, c + 1.6 * r), 20, 160, fill=fill)
    elif thing == "heart":
        draw.ellipse((c - r, c - r, c, c), fill=fill)
        draw.ellipse((c, c - r, c + r, c), fill=fill)
        draw.polygon([(c - r, c - r / 2), (c + r, c - r / 2), (c, c + r * 1.2)], fill=fill)
    else:  # wheel: a tyre of the asked shape with spokes
        box = (c - 1.5 * r, c - 1.5 * r, c + 1.5 * r, c + 1.5 * r)
        if args["shape"] == "Square":
            draw.rectangle(box, outline=(20, 20, 20), width=max(2, s // 25))
        else:
            pts = [(c, c - 1.6 * r), (c + 1.5 * r, c + 1.2 * r), (c - 1.5 * r, c + 1.2 * r)]
            draw.polygon(pts, outline=(20, 20, 20), width=max(2, s // 25))
        draw.ellipse((c - r / 4, c - r / 4, c + r / 4, c + r / 4), fill=fill)
