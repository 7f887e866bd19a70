"""Errors of `longva ablate`: all are `LongVAError`s, so the CLI prints one line and exits 2.

Every message starts with the location it is about (`plan.md:23: ...`) when one is known, so
a user can jump straight to the offending line of the plan.
"""

from __future__ import annotations

from longva.errors import ConfigError, InputError


class PlanError(InputError):
    """The plan file cannot be read, or is malformed (unknown action, missing field, ...)."""


class CompileError(ConfigError):
    """A well-formed plan that cannot be turned into experiments for this recipe."""


class UnknownMetricError(CompileError):
    """A metric name that the metric registry does not know."""


def located(source: str | None, line: int | None, message: str) -> str:
    """`file:line: message` (or `file: message`, or just `message` when nothing is known)."""
    if source and line:
        return f"{source}:{line}: {message}"
    if source:
        return f"{source}: {message}"
    return message
