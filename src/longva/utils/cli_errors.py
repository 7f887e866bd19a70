"""The command line's side of "one line per error": usage errors, argv bytes, library warnings.

- `usage_error_line`: click's usage errors (unknown option, missing option, a value its type
  refuses) as ONE line naming the option and pointing at `--help`, instead of typer's boxed,
  multi-line panel;
- `check_argv`: a command-line argument whose bytes are not UTF-8 is refused before any command
  runs (Python hands such bytes on as lone surrogates, which would fail much later);
- `quiet_library_warnings`: warnings raised inside torch / transformers / PIL are not shown (they
  are advice for library developers, and one before our own error reads like the cause); the
  package's own warnings still are.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from longva.utils.text_input import text_arg

OWN_WARNINGS = r"longva(\.|$)"  # module regex of the warnings that stay visible


def usage_error_line(error) -> str:
    """`error: <click's message> (see 'longva cmd --help')`, on one line."""
    message = " ".join(error.format_message().split())
    command = error.ctx.command_path if getattr(error, "ctx", None) is not None else "longva"
    return f"error: {message} (see '{command} --help')"


def check_argv(args: list[str]) -> None:
    """Refuse an argument that is not UTF-8 text, naming the option it was given to."""
    for i, arg in enumerate(args):
        previous = args[i - 1] if i else ""
        if arg.startswith("-"):
            what = f"option {arg.split('=', 1)[0]!r}"
        elif previous.startswith("--") and "=" not in previous:
            what = f"the value of {previous}"
        else:
            what = f"argument {i + 1}"
        text_arg(arg, what)


@contextmanager
def quiet_library_warnings() -> Iterator[None]:
    """Show only the package's own warnings while a command runs."""
    with warnings.catch_warnings():
        only_own_warnings()
        yield


def only_own_warnings() -> None:
    """From now on, show only the package's own warnings (a worker process of a command)."""
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=OWN_WARNINGS)
