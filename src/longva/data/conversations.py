"""LLaVA conversation datasets (JSON list or JSONL) as training examples for vision alignment.

A record (LLaVA-Pretrain / LLaVA-NeXT-Data layout):

    {"id": "000123", "image": "coco/000123.jpg" | ["a.jpg", "b.jpg"] (optional),
     "conversations": [{"from": "human", "value": "<image>\\nQ"}, {"from": "gpt", "value": "A"}, ...]}

Rules, as LLaVA's `LazySupervisedDataset` + `preprocess_multimodal` (dossier §2.4):
- one `<image>` placeholder per image; a single image with no placeholder gets one in front of
  the first human turn, and a single placeholder inside a turn is moved to its front;
- image paths are relative to `image_folder` and may not leave it;
- `qwen_1_5` labels follow `preprocess_qwen` (via the processor's template); the `plain`
  template (stage 1, `preprocess_plain`) keeps only `<image>` + the caption + "\\n": the human
  text is dropped and only the caption is supervised.

Records are parsed and checked (shape, roles, placeholder counts) when the file is read; image
files are checked lazily, when a row is sized or loaded, or all at once by `check`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from PIL import Image, UnidentifiedImageError

from longva.data.images import load_image
from longva.errors import InputError
from longva.model.encoding import VisualInput, image_token_count, tokens_per_frame
from longva.model.prompt import IMAGE_TOKEN_INDEX, move_image_first, normalise_conversation
from longva.utils.io import safe_join
from longva.utils.text_input import read_text

ImageMode = Literal["grids", "crop", "pad"]  # grids: the model's encoding; crop/pad: one grid
_EXIF_ORIENTATION = 0x0112
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height (load_image applies them)


@dataclass(frozen=True)
class ConversationRecord:
    index: int  # position in the file
    row_id: str  # the record's "id" (or "#<index>" when it has none)
    images: tuple[str, ...]  # paths relative to the image folder
    messages: tuple[tuple[str, str], ...]  # (role, text) after the placeholder rules


@dataclass
class ConversationExample:
    row_id: str
    input_ids: torch.Tensor  # (L,) with one IMAGE_TOKEN_INDEX per image
    labels: torch.Tensor  # (L,) IGNORE_INDEX where unsupervised
    visuals: list[VisualInput]


# ---- reading ------------------------------------------------------------------------------------


def read_records(path: str | Path) -> list[dict]:
    """Raw records of a JSON list or a JSONL file (one-line error naming the bad line)."""
    path = Path(path)
    text = read_text(path, "dataset", "a LLaVA .json or .jsonl file")  # strict UTF-8, one-line errors
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(
                f"dataset {path}: invalid JSON ({e.msg} at line {e.lineno}); expected a list of records"
            ) from None
    else:  # JSONL: a bad line is an error, never skipped (it would silently shrink the data)
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputError(
                        f"dataset {path} line {lineno}: invalid JSON ({e.msg}); expected one record per line"
                    ) from None
    if not records:
        raise InputError(f"dataset {path} holds no records; expected at least one")
    return records


def _image_list(raw: dict, row_id: str) -> tuple[str, ...]:
    if "video" in raw:
        raise InputError(f"row {row_id}: has a 'video' field; the alignment dataset takes images only")
    image = raw.get("image")
    images = [] if image is None else [image] if isinstance(image, str) else image
    if not isinstance(images, list) or not all(isinstance(p, str) and p for p in images):
        raise InputError(f"row {row_id}: 'image' is {image!r}; expected a relative path or a list of them")
    return tuple(images)


def parse_record(raw, index: int, image_token: str, plain: bool) -> ConversationRecord:
    """Check one raw record and apply LLaVA's placeholder rules (see the module doc)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("conversations"), list):
        raise InputError(f"row #{index}: expected a record with a 'conversations' list, got {type(raw).__name__}")
    row_id = str(raw.get("id", f"#{index}"))
    images = _image_list(raw, row_id)
    try:
        turns = normalise_conversation(raw["conversations"])
    except InputError as e:
        raise InputError(f"row {row_id}: {e}") from None
    if not any(role == "assistant" for role, _ in turns):
        raise InputError(f"row {row_id}: no gpt turn; expected at least one answer to train on")
    turns = _place_images(turns, images, image_token, row_id)
    if plain:
        turns = _plain_turns(turns, len(images), image_token, row_id)
    return ConversationRecord(index, row_id, images, tuple(turns))


def _place_images(turns, images, token: str, row_id: str) -> list[tuple[str, str]]:
    count = sum(text.count(token) for _, text in turns)
    if count == 0 and len(images) == 1:  # LLaVA data sometimes omits it: the image goes first
        turns = [(turns[0][0], f"{token}\n{turns[0][1]}"), *turns[1:]]
        count = 1
    if count != len(images):
        raise InputError(
            f"row {row_id}: {count} {token} placeholder(s) but {len(images)} image(s); expected one placeholder per "
            "image"
        )
    return [(role, move_image_first(text, token) if role == "user" else text) for role, text in turns]


def _plain_turns(turns, n_images: int, token: str, row_id: str) -> list[tuple[str, str]]:
    """`preprocess_plain`: one human + one gpt turn; the human text becomes the placeholders."""
    if [role for role, _ in turns] != ["user", "assistant"]:
        raise InputError(
            f"row {row_id}: the plain template takes one human turn then one gpt turn (a caption), got {len(turns)} "
            "turns"
        )
    return [("user", token * n_images), turns[1]]


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) as `load_image` will return it, from the header only (EXIF rotation applied)."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            rotated = im.getexif().get(_EXIF_ORIENTATION) in _ROTATED
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{path}: not a readable image ({reason}); expected a PNG/JPEG/WebP image") from None
    return (height, width) if rotated else (width, height)


# ---- dataset --------------------------------------------------------------------------------------


class ConversationDataset:
    """Indexable LLaVA conversations: text encoded on demand, images loaded on demand."""

    def __init__(
        self,
        path: str | Path,
        image_folder: str | Path | None,
        processor,
        image_mode: ImageMode = "grids",
        system: str | None = None,
    ):
        self.path, self.processor, self.image_mode, self.system = Path(path), processor, image_mode, system
        self.image_folder = Path(image_folder) if image_folder is not None else None
        token, plain = processor.config.image_token, processor.config.template == "plain"
        self.records = [parse_record(raw, i, token, plain) for i, raw in enumerate(read_records(self.path))]
        if self.image_folder is None and any(r.images for r in self.records):
            first = next(r for r in self.records if r.images)
            raise InputError(
                f"row {first.row_id}: has images but no image_folder was given; expected data.image_folder"
            )

    def __len__(self) -> int:
        return len(self.records)

    def image_paths(self, i: int) -> list[Path]:
        """Absolute image paths of row `i`; one-line error for an escaping or missing file."""
        rec = self.records[i]
        paths = []
        for rel in rec.images:
            try:
                path = safe_join(self.image_folder, rel, what="image path")
            except InputError as e:
                raise InputError(f"row {rec.row_id}: {e}") from None
            if not path.is_file():
                raise InputError(
                    f"row {rec.row_id}: image {rel!r} not found in {self.image_folder}; expected an existing image file"
                )
            paths.append(path)
        return paths

    def encode_text(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids (L,), labels (L,)) of row `i` with the processor's template masks."""
        return self.processor.encode_training_example(list(self.records[i].messages), system=self.system)

    def _visual_tokens(self, size: tuple[int, int]) -> int:
        config = self.processor.config
        return image_token_count(config, size) if self.image_mode == "grids" else tokens_per_frame(config)

    def length(self, i: int, ids: torch.Tensor | None = None) -> int:
        """LM tokens of row `i` once its images are spliced in (image headers only)."""
        ids = self.encode_text(i)[0] if ids is None else ids
        visual = sum(self._visual_tokens(image_size(p)) for p in self.image_paths(i))
        return int(ids.numel()) - int((ids == IMAGE_TOKEN_INDEX).sum()) + visual

    def _visual(self, path: Path) -> VisualInput:
        image = load_image(path)
        if self.image_mode == "grids":
            return self.processor.preprocess_image(image)
        # one grid per image, as LLaVA's "square" (CLIP crop) / "pad" aspect modes; a one-frame
        # "video" is exactly one grid through the same tower/projector/pooling path
        return self.processor.preprocess_video([image], mode=self.image_mode)

    def example(self, i: int) -> ConversationExample:
        """Row `i` with its images decoded and preprocessed."""
        ids, labels = self.encode_text(i)
        visuals = [self._visual(p) for p in self.image_paths(i)]
        return ConversationExample(self.records[i].row_id, ids, labels, visuals)

    def check(self, max_length: int | None = None, on_row: Callable[[int], None] | None = None) -> dict:
        """Check every row now (images exist and are readable, lengths); returns a summary.

        Rows longer than `max_length` are counted, not raised: the caller applies its policy.
        """
        too_long, images, longest = [], 0, 0
        for i in range(len(self)):
            n = self.length(i)
            images += len(self.records[i].images)
            longest = max(longest, n)
            if max_length is not None and n > max_length:
                too_long.append((self.records[i].row_id, n))
            if on_row is not None:
                on_row(i)
        return {"rows": len(self), "images": images, "longest": longest, "too_long": too_long}
