"""The toy recipe's NIAH tasks as CLI presets: what `longva reproduce` trains is what they ask.

- `longva niah --preset toy`: haystack frames are the recipe's muted procedural frames
  (`data.toy.colours.haystack_pixels`), needles its colour squares (`needle_frame`, one per
  colour of the palette in order), the question its `QUESTION` and the answers bare colour words
  ("red"), all drawn at the tower's image size. The task families other than `single` keep their
  own synthetic needles on this haystack.
- `longva niah-text --preset text-toy`: the recipe's text retrieval, one colour word (" red")
  hidden in its filler words inside its chat prompt (`TextRetrievalTask`), one needle per colour.

The recipe's own evaluation (`recipes.evaluation`) builds its text NIAH with
`colour_text_inputs` too; its V-NIAH draws from the same functions in one random stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longva.data.toy.colours import (
    COLOURS,
    QUESTION,
    PromptPieces,
    TextRetrievalTask,
    haystack_pixels,
    needle_colours,
    needle_frame,
)
from longva.errors import InputError
from longva.model.checkpoint import load_config
from longva.model.config import LongVAConfig
from longva.model.processor import LongVAProcessor
from longva.niah.adapters import read_config
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid
from longva.niah.sequence import EmbedFn, Source
from longva.niah.tasks.folder import write_task
from longva.niah.text_niah import TextNeedle, text_cells, text_sources

VNIAH_PRESET, TEXT_PRESET = "toy", "text-toy"
FRAME_SIZE = 32  # px: the recipe's tower (`recipes.config.toy_model_config`)


@dataclass
class ToyHaystack:
    """The recipe's haystack frames (size, size, 3) uint8, endless; frame i depends on (seed, i)."""

    seed: int = 0
    size: int = FRAME_SIZE

    def __len__(self) -> int:
        return 1 << 40  # unbounded

    def identity(self) -> dict:
        return {"kind": "toy", "seed": self.seed, "size": self.size}

    def frames_from(self, start: int):
        i = start
        while True:
            yield haystack_pixels(np.random.default_rng([self.seed, i]), 1, self.size)[0]
            i += 1


def frame_size(model_dir: str | Path, model_type: str) -> int:
    """The tower's image size of a LongVA folder (frames are drawn at it, as the recipe draws
    them); other model types get the recipe's 32 px, resized by their own processor."""
    return load_config(model_dir).vision.image_size if model_type == "longva" else FRAME_SIZE


def write_needles(folder: str | Path, n: int = len(COLOURS), size: int = FRAME_SIZE, seed: int = 0) -> Path:
    """`n` colour-square needles (the palette in order) as a `single` task folder: task.json +
    images/. Image i is `needle_frame(default_rng([seed, 19, i]), colour_i, size)`."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, colour in enumerate(needle_colours(n)):
        name = f"images/needle_{i:03d}_{colour}.png"
        needle_frame(np.random.default_rng([seed, 19, i]), colour, size).save(folder / name)
        rows.append({"id": f"{i}-{colour}", "image": name, "question": QUESTION, "answer": colour})
    return write_task(folder, "single", rows)


def text_task(tokenizer, model_dir: str | Path) -> TextRetrievalTask:
    """The recipe's text retrieval (its question, whole-word filler) in the chat prompt of a
    LongVA folder's own template, else of the recipe's (an LM folder of the recipe holds only
    the LM and its tokenizer)."""
    raw = read_config(model_dir)
    is_longva = raw.get("model_type") == "longva" or any(k.startswith("mm_") for k in raw)
    config = load_config(model_dir) if is_longva else LongVAConfig()
    return TextRetrievalTask(LongVAProcessor(tokenizer, config), QUESTION)


def check_text_options(haystack: str, distractors: int) -> None:
    """text-toy hides a colour word in the recipe's filler words: no text file, no distractors."""
    if str(haystack) != "synthetic" or distractors:
        raise InputError(
            f"--preset {TEXT_PRESET} uses the recipe's filler words and no distractors (got --haystack"
            f" {str(haystack)!r}, --distractors {distractors}); expected --haystack synthetic --distractors 0"
        )


def question_and_post(pieces: PromptPieces, tokenizer) -> tuple[list[int], list[int]]:
    """The prompt after the haystack split into the question and the rest (end of turn + assistant)."""
    if pieces.position == "after_text":  # the question sits before the video, in the prefix
        return [], pieces.suffix.tolist()
    question = tokenizer.encode(pieces.question, add_special_tokens=False)
    suffix = pieces.suffix.tolist()
    if suffix[: len(question)] != question:
        raise InputError(f"the question {pieces.question!r} does not open the prompt after the haystack")
    return question, suffix[len(question) :]


def colour_text_inputs(
    task: TextRetrievalTask, embed_fn: EmbedFn, grid: Grid, samples: int, seed: int
) -> tuple[list[Cell], dict[str, Source], list[str]]:
    """Cells and sources of the colour-word text NIAH (needle = " red", answer = "red"), and
    the needles' colours. The filler is the task's, drawn from (seed, 23)."""
    pieces, tokenizer = task.pieces, task.pieces.processor.tokenizer
    q_ids, post_ids = question_and_post(pieces, tokenizer)
    filler = task.filler_ids(np.random.default_rng([seed, 23]), grid.max_length)
    colours = needle_colours(samples)
    needles = [
        TextNeedle(tuple(task.needles[c].tolist()), tuple(pieces.answer_ids[c].tolist()), c, {"needle_id": f"{i}-{c}"})
        for i, c in enumerate(colours)
    ]
    if any(len(n.needle_ids) != 1 for n in needles):
        raise InputError("--preset text-toy needs a tokenizer with every colour word as one token (the recipe's)")
    prefix = pieces.prefix.tolist()
    cells = text_cells(grid, needles, None, len(prefix), len(q_ids), post_len=len(post_ids))
    sources = text_sources(embed_fn, filler, prefix, q_ids, needles, post_ids=post_ids)
    return cells, sources, colours
