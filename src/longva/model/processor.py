"""LongVAProcessor: tokenizer + chat template + image/frame preprocessing (the transformers
config / model / processor split). Turns user inputs into `input_ids` and `VisualInput`s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from longva.errors import InputError
from longva.model.config import LongVAConfig
from longva.model.encoding import VisualInput, image_to_grids
from longva.model.image_processing import (
    check_image,
    expand_to_square,
    mean_color,
    resize_shortest_and_center_crop,
    to_tensor,
)
from longva.model.prompt import (
    IMAGE_TOKEN_INDEX,
    encode_segments,
    get_template,
    move_image_first,
)


class LongVAProcessor:
    def __init__(self, tokenizer, config: LongVAConfig):
        self.tokenizer = tokenizer
        self.config = config
        self.template = get_template(config.template)

    # ---- pixels ------------------------------------------------------------------------------

    @property
    def grid_px(self) -> int:
        return self.config.vision.image_size

    def _tensor(self, image: Image.Image) -> torch.Tensor:
        return to_tensor(image, self.config.vision.image_mean, self.config.vision.image_std)

    def preprocess_image(self, image: Image.Image) -> VisualInput:
        """An image -> its grids (UniRes or AnyRes) as one VisualInput."""
        image = check_image(image)
        grids, rows, cols = image_to_grids(image, self.config.encoding, self.grid_px)
        pixel_values = torch.stack([self._tensor(g) for g in grids])  # (rows*cols, 3, S, S)
        base = None
        if self.config.encoding.scheme == "anyres":
            base = self._tensor(image.resize((self.grid_px, self.grid_px)))  # plain resize, as LLaVA-NeXT
        return VisualInput("image", pixel_values, rows, cols, base, image.size)

    def preprocess_frame(self, frame: Image.Image, mode: str | None = None) -> torch.Tensor:
        """One frame -> (3, S, S). `pad`: square with the mean colour (V-NIAH); `crop`: CLIP crop."""
        frame = check_image(frame, "video frame")
        mode = mode or self.config.encoding.frame_mode
        if mode == "pad":
            frame = expand_to_square(frame, mean_color(self.config.vision.image_mean))
            frame = frame.resize((self.grid_px, self.grid_px), Image.Resampling.BICUBIC)
        elif mode == "crop":
            frame = resize_shortest_and_center_crop(frame, self.grid_px)
        else:
            raise InputError(f"frame mode {mode!r} is unknown; expected 'pad' or 'crop'")
        return self._tensor(frame)

    def preprocess_frames(self, frames, mode: str | None = None) -> torch.Tensor:
        """Frames (list of PIL, or uint8 array (F, H, W, 3)) -> (F, 3, S, S)."""
        images = [Image.fromarray(np.asarray(f)) if not isinstance(f, Image.Image) else f for f in frames]
        if not images:
            raise InputError("the video has no frames; expected at least one")
        return torch.stack([self.preprocess_frame(im, mode) for im in images])

    def preprocess_video(self, frames, mode: str | None = None) -> VisualInput:
        pixel_values = self.preprocess_frames(frames, mode)
        return VisualInput("video", pixel_values, 1, pixel_values.shape[0])

    # ---- text ----------------------------------------------------------------------------------

    def build_messages(
        self, question: str, num_visuals: int, history: Sequence[tuple[str, str]] = ()
    ) -> list[tuple[str, str]]:
        """[(role, text)]: history, then the question with one <image> per visual in front (or
        after it, for a model with `visual_position="after_text"`)."""
        token = self.config.image_token
        if token not in question and self.config.visual_position == "after_text":
            return list(history) + [("user", question + "".join(f"\n{token}" for _ in range(num_visuals)))]
        placeholders = "".join(f"{token}\n" for _ in range(num_visuals))
        question = question if token in question else placeholders + question
        return list(history) + [("user", move_image_first(question, token))]

    def encode_prompt(
        self, messages: list[tuple[str, str]], add_generation_prompt: bool = True, system: str | None = None
    ) -> torch.Tensor:
        """Token ids (1, L) with IMAGE_TOKEN_INDEX at each <image>."""
        segments = self.template.segments(messages, add_generation_prompt, system)
        ids, _ = encode_segments(segments, self.tokenizer, self.config.image_token)
        return torch.tensor([ids], dtype=torch.long)

    def encode_training_example(self, messages: list[tuple[str, str]], system: str | None = None):
        """(input_ids (L,), labels (L,)) with the template's label mask."""
        segments = self.template.segments(messages, add_generation_prompt=False, system=system)
        ids, labels = encode_segments(segments, self.tokenizer, self.config.image_token)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)

    def count_placeholders(self, input_ids: torch.Tensor) -> int:
        return int((input_ids == IMAGE_TOKEN_INDEX).sum())

    @property
    def stop_token_ids(self) -> list[int]:
        ids = self.tokenizer.encode(self.template.stop, add_special_tokens=False) if self.template.stop else []
        return ids[:1] if len(ids) == 1 else []

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # ---- persistence -------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> None:
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def from_pretrained(cls, directory: str | Path, config: LongVAConfig | None = None) -> LongVAProcessor:
        from longva.model.checkpoint import load_config, load_tokenizer

        config = config or load_config(directory)
        return cls(load_tokenizer(directory), config)
