"""A toy alignment dataset + tiny starting weights, for `configs/train_align_toy.yaml` and tests.

    python -m longva.data.toy.align_folder runs/align_toy_data
    longva train align --config configs/train_align_toy.yaml

Writes, in seconds: `images/` (PNGs of one coloured square on a grey field, several aspect
ratios, so UniRes picks different grid layouts), `conversations.json` (LLaVA multi-turn rows,
`qwen_1_5`), `captions.jsonl` (LLaVA-Pretrain style rows, `plain`), `lm/` (a tiny Qwen2 +
tokenizer, as `longva train text` would leave) and `clip/` (a tiny CLIP vision tower).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, CLIPVisionConfig, CLIPVisionModel

from longva.data.toy.colours import COLOURS as PALETTE
from longva.model.modeling_longva import build_lm_config
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config
from longva.utils.io import append_jsonl, atomic_write_json

COLOURS = {name: PALETTE[name] for name in ("red", "green", "blue", "yellow")}
SIZES = [(64, 32), (32, 64), (48, 48), (96, 32)]  # (W, H)
QUESTION = "What is the colour of the square?"


def _image(rng: np.random.Generator, colour: str, size: tuple[int, int]) -> Image.Image:
    width, height = size
    pixels = np.full((height, width, 3), 128, np.uint8)
    side = min(width, height) // 2
    x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    pixels[y : y + side, x : x + side] = COLOURS[colour]
    return Image.fromarray(pixels)


def _write_images(root: Path, n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """`n` PNGs under root/images -> [(relative path, colour)]."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        colour = list(COLOURS)[i % len(COLOURS)]
        rel = f"img_{i:03d}.png"
        _image(rng, colour, SIZES[i % len(SIZES)]).save(root / "images" / rel)
        rows.append((rel, colour))
    return rows


def _conversation(i: int, rel: str, colour: str) -> dict:
    return {
        "id": f"conv_{i:03d}",
        "image": rel,
        "conversations": [
            {"from": "human", "value": f"<image>\n{QUESTION}"},
            {"from": "gpt", "value": f"The colour of the square is {colour}."},
            {"from": "human", "value": "Answer with a single word."},
            {"from": "gpt", "value": colour},
        ],
    }


def _caption(i: int, rel: str, colour: str) -> dict:
    return {
        "id": f"cap_{i:03d}",
        "image": rel,
        "conversations": [
            {"from": "human", "value": "Describe the image.\n<image>"},
            {"from": "gpt", "value": f"A {colour} square."},
        ],
    }


def _write_models(root: Path, seed: int) -> None:
    corpus = [f"{QUESTION} Answer with a single word. Describe the image. The colour of the square is "
              + " ".join(COLOURS) + ". A square. system user assistant You are a helpful assistant.\n"] * 4
    tokenizer = build_tiny_tokenizer(corpus, vocab_size=300)
    config = tiny_longva_config(len(tokenizer), max_grids=4)
    torch.manual_seed(seed)
    lm = AutoModelForCausalLM.from_config(build_lm_config(config))
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    CLIPVisionModel(CLIPVisionConfig(**config.vision.hf_config)).save_pretrained(root / "clip")


def make_toy_dataset(root: str | Path, n: int = 16, seed: int = 0) -> dict[str, Path]:
    """Write the toy data and tiny models under `root`; returns their paths."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = Path(root)
    rng = np.random.default_rng(seed)
    images = _write_images(root, n, rng)
    atomic_write_json(root / "conversations.json", [_conversation(i, rel, c) for i, (rel, c) in enumerate(images)])
    (root / "captions.jsonl").unlink(missing_ok=True)
    for i, (rel, colour) in enumerate(images):
        append_jsonl(root / "captions.jsonl", _caption(i, rel, colour))
    _write_models(root, seed)
    names = ("images", "conversations.json", "captions.jsonl", "lm", "clip")
    return {name.split(".")[0]: root / name for name in names}


if __name__ == "__main__":
    out = make_toy_dataset(sys.argv[1] if len(sys.argv) > 1 else "runs/align_toy_data")
    print(f"toy alignment data written to {out['images'].parent}")
