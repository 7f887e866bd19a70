"""One progress-bar style for every long job: count, rate and ETA (rich)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def make_progress(*extra_columns, transient: bool = False, disable: bool | None = None) -> Progress:
    """A rich Progress with description, bar, n/total, %, elapsed, ETA and any extra columns.

    Extra columns are usually `TextColumn("{task.fields[rate]}")` fed with e.g. tokens/s.
    Disabled automatically when stderr is not a terminal and LONGVA_PROGRESS is unset, so logs
    and tests stay clean; set LONGVA_PROGRESS=1 to force it.
    """
    import os

    if disable is None:
        disable = not (sys.stderr.isatty() or os.environ.get("LONGVA_PROGRESS") == "1")
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        transient=transient,
        disable=disable,
    )
