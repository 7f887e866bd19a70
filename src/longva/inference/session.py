"""A conversation about one set of visuals, question after question (the CLI's chat loop).

The video/images are read and preprocessed when the session is made (so a bad file fails
before any question is typed) and sent with the first question; later questions see them
through the history, whose KV cache is kept (`keep_cache=True`) so each follow-up prefills
only its new tokens.
"""

from __future__ import annotations

from collections.abc import Callable

from longva.inference.conversation import ChatResult
from longva.inference.history import ChatHistory
from longva.inference.pipeline import LongVAPipeline
from longva.inference.visuals import PreparedVisuals

EXIT_COMMANDS = ("/exit", "/quit")


class ChatSession:
    def __init__(
        self, pipeline: LongVAPipeline, visuals: PreparedVisuals | None = None, system: str | None = None, **generation
    ):
        """generation: chat() keywords applied to every turn (max_new_tokens, temperature, seed, ...)."""
        self.pipeline = pipeline
        self.history = ChatHistory(system=system)
        self._pending = visuals  # sent with the first question
        self.generation = generation

    def ask(self, question: str, callback: Callable[[str], None] | None = None) -> ChatResult:
        result = self.pipeline.chat(
            question, visuals=self._pending, history=self.history, callback=callback, keep_cache=True, **self.generation
        )
        self._pending, self.history = None, result.history  # only once the turn succeeded
        return result


def is_exit(line: str) -> bool:
    return line.strip().lower() in EXIT_COMMANDS
