"""How many tokens a turn takes and whether it fits the model's context, known before running.

Visual tokens follow from the config alone (frames x tokens per frame for a video, the UniRes /
AnyRes grid count for an image), so the page can show the count while the user moves the
frames slider and the API can refuse a prompt that would not fit, before any vision compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from longva.errors import InputError
from longva.inference.history import ChatHistory
from longva.inference.info import context_length
from longva.model.encoding import VisualInput, image_token_count, tokens_per_frame


@dataclass(frozen=True)
class Budget:
    text_tokens: int  # prompt tokens that are text (template, history, question)
    visual_tokens: int  # visual tokens of the history and of this turn
    answer_tokens: int  # the most the answer may add
    context: int | None  # the model's limit (None: unknown)

    @property
    def prompt_tokens(self) -> int:
        return self.text_tokens + self.visual_tokens

    @property
    def fits(self) -> bool:
        return self.context is None or self.prompt_tokens + self.answer_tokens <= self.context

    def describe(self) -> str:
        ctx = f"{self.context:,}" if self.context else "unknown"
        verdict = "fits" if self.fits else "does NOT fit"
        return (
            f"{self.prompt_tokens:,} prompt tokens ({self.visual_tokens:,} visual) + up to"
            f" {self.answer_tokens:,} answer tokens, context {ctx}: {verdict}"
        )


def model_context(model) -> int | None:
    """`config.max_length` when set, else the LM's position limit (as `longva info`)."""
    return context_length(model.config, model.language_model.config)[0]


def visual_token_count(config, visual: VisualInput) -> int:
    """LM tokens the vision side will produce for one prepared visual."""
    if visual.kind == "video":
        return visual.num_grids * tokens_per_frame(config)
    return image_token_count(config, visual.image_size)


def turn_budget(
    processor,
    context: int | None,
    history: ChatHistory,
    question: str,
    new_visual_tokens: Sequence[int],
    max_new_tokens: int,
) -> Budget:
    """The budget of asking `question` with visuals of these token counts after `history`."""
    messages = processor.build_messages(question or " ", len(new_visual_tokens), history.messages())
    ids = processor.encode_prompt(messages, system=history.system)  # (1, L) with placeholders
    text = int(ids.shape[1]) - processor.count_placeholders(ids)
    visual = sum(int(f.shape[0]) for f in history.features) + sum(new_visual_tokens)
    return Budget(text, visual, max_new_tokens, context)


class ContextExceeded(InputError):
    """The prompt plus the longest answer asked for would not fit the model's context."""

    def __init__(self, budget: Budget):
        super().__init__(
            f"the request would not fit the model: {budget.describe()}; use fewer frames or"
            " images, or a smaller max_tokens"
        )
        self.budget = budget
