"""User-facing errors.

Every error a user can cause (bad file, bad config, bad grid spec, ...) is raised as a
`LongVAError` whose message is ONE line naming the input, what was wrong and what is expected.
The CLI catches `LongVAError`, prints `error: <message>` and exits with code 2 (no traceback).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LongVAError(Exception):
    """An error caused by user input; its message is a single line."""

    def __init__(self, message: str):
        # Keep the message on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class ConfigError(LongVAError, ValueError):
    """A config file or config value is invalid (unknown key, wrong type, unknown choice)."""


class InputError(LongVAError, ValueError):
    """An input file or argument is missing, corrupt or of the wrong kind."""


class CheckpointError(LongVAError):
    """A checkpoint directory or weights file cannot be loaded."""
