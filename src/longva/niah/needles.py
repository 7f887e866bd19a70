"""Needle sets: images with a question whose answer only that image gives away.

A needle set is a folder with either
- `needles.jsonl`: one object per line, `{"image", "question", "answer", "options"?}`; or
- `dataset.json` (the original `vision_niah/needle_datasets` format): a list of
  `{"path", "prompt", "answer"}` with images under `images/` (or next to the file).

Questions are used verbatim (the original's start with "\\n", right after the last visual
token). With `options`, the choices are appended as "A. ..." lines plus the original's
instruction, and the answer must be an option letter (or one of the option texts, converted).
Image paths are resolved inside the folder (`safe_join`: no absolute paths, no `..`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from longva.errors import InputError
from longva.utils.io import safe_join

OPTION_LETTERS = "ABCDEFGHIJ"
OPTION_INSTRUCTION = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class Needle:
    id: str
    image: Path
    question: str
    answer: str
    options: tuple[str, ...] = field(default=())

    @property
    def prompt(self) -> str:
        """The question text as the model sees it (options appended when given separately)."""
        if not self.options:
            return self.question
        lines = [f"{OPTION_LETTERS[i]}. {opt}" for i, opt in enumerate(self.options)]
        return "\n".join([self.question, *lines, OPTION_INSTRUCTION])


def load_needles(folder: str | os.PathLike) -> list[Needle]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"needle folder {str(folder)!r} does not exist; expected a folder with needles.jsonl or dataset.json"
        )
    if (folder / "needles.jsonl").is_file():
        needles = _from_jsonl(folder)
    elif (folder / "dataset.json").is_file():
        needles = _from_dataset_json(folder)
    else:
        raise InputError(
            f"needle folder {str(folder)!r} has neither needles.jsonl nor dataset.json"
        )
    if not needles:
        raise InputError(f"needle folder {str(folder)!r} lists no needles")
    return needles


def _from_jsonl(folder: Path) -> list[Needle]:
    path = folder / "needles.jsonl"
    needles = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(
                    f"{path}:{line_no} is not valid JSON; expected one needle object per line"
                ) from None
            needles.append(_needle(folder, row, f"{path}:{line_no}", "image", "question", folder))
    return needles


def _from_dataset_json(folder: Path) -> list[Needle]:
    path = folder / "dataset.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InputError(
            f"{path} is not valid JSON; expected a list of {{path, prompt, answer}}"
        ) from None
    if not isinstance(rows, list):
        raise InputError(
            f"{path} holds a {type(rows).__name__}; expected a list of {{path, prompt, answer}}"
        )
    image_root = folder / "images" if (folder / "images").is_dir() else folder
    return [
        _needle(folder, row, f"{path}[{i}]", "path", "prompt", image_root)
        for i, row in enumerate(rows)
    ]


def _needle(
    folder: Path, row, where: str, image_key: str, question_key: str, image_root: Path
) -> Needle:
    if not isinstance(row, dict):
        raise InputError(f"{where} is a {type(row).__name__}; expected an object")
    missing = [k for k in (image_key, question_key, "answer") if not isinstance(row.get(k), str)]
    if missing:
        raise InputError(f"{where} lacks string field(s) {', '.join(missing)}")
    image = safe_join(image_root, row[image_key], what=f"{where} image")
    if not image.is_file():
        raise InputError(f"{where} image {row[image_key]!r} does not exist in {image_root}")
    options = tuple(str(o) for o in row.get("options") or ())
    answer = _option_answer(row["answer"], options, where) if options else row["answer"]
    needle_id = str(row.get("id", Path(row[image_key]).stem))
    return Needle(needle_id, image, row[question_key], answer, options)


def _option_answer(answer: str, options: tuple[str, ...], where: str) -> str:
    letters = OPTION_LETTERS[: len(options)]
    if answer in letters:
        return answer
    if answer in options:
        return letters[options.index(answer)]
    raise InputError(
        f"{where} answer {answer!r} is neither an option letter ({letters}) nor one of the options"
    )
