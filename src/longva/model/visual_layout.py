"""Where the visual tokens sit in a user turn (`LongVAConfig.visual_position`).

- `before_text` (LongVA, LLaVA): `<image>` then the question;
- `after_text`: the question then `<image>`;
- `interleaved`: one placeholder per frame (per grid of an image), each preceded by the tokens of
  `frame_marker`: [marker, frame 1, marker, frame 2, ...] then the question.

Interleaved ids are made by expanding the single placeholder of a `before_text` prompt
(`expand_placeholder`), so training rows and V-NIAH sequences (marker rows + frame rows per
frame unit) are the same token sequence by construction.
"""

from __future__ import annotations

import torch

from longva.errors import ConfigError
from longva.model.encoding import VisualInput
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX

POSITIONS = ("before_text", "after_text", "interleaved")


def user_text(question: str, position: str, image_token: str) -> str:
    """The user message with ONE placeholder (interleaved prompts are expanded afterwards)."""
    return question + image_token if position == "after_text" else image_token + question


def marker_ids(tokenizer, marker: str) -> list[int]:
    return tokenizer.encode(marker, add_special_tokens=False) if marker else []


def expand_placeholder(
    ids: torch.Tensor, labels: torch.Tensor | None, units: int, marker: list[int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The one IMAGE_TOKEN_INDEX of `ids` (L,) -> `units` x (marker ids, placeholder); labels ignored there."""
    cut = int((ids == IMAGE_TOKEN_INDEX).nonzero())
    unit = torch.tensor([*marker, IMAGE_TOKEN_INDEX], dtype=ids.dtype)
    middle = unit.repeat(units)
    new_ids = torch.cat([ids[:cut], middle, ids[cut + 1 :]])
    if labels is None:
        return new_ids, None
    ignored = torch.full_like(middle, IGNORE_INDEX)
    return new_ids, torch.cat([labels[:cut], ignored, labels[cut + 1 :]])


def with_frame_markers(frames: torch.Tensor, marker_embeds: torch.Tensor) -> torch.Tensor:
    """(F, t, D) frame tokens + (m, D) marker embeddings -> (F, m + t, D) interleaved units."""
    marker = marker_embeds.to(frames.dtype).unsqueeze(0).expand(frames.shape[0], -1, -1)
    return torch.cat([marker, frames], dim=1)


def split_units(visual: VisualInput) -> list[VisualInput]:
    """A video (or a UniRes image's grids) -> one single-frame video per frame/grid, in order."""
    if visual.kind == "image" and visual.base is not None:
        raise ConfigError("model.visual_position: 'interleaved' places one frame marker per grid, which needs"
                          " UniRes grids (no AnyRes base thumbnail); set model.encoding.scheme=unires")
    return [VisualInput("video", visual.pixel_values[i : i + 1], 1, 1) for i in range(visual.pixel_values.shape[0])]
