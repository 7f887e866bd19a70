"""One progress style for every long job: count, rate and ETA.

On a terminal: a rich bar (description, bar, n/total, %, elapsed, ETA, extra columns). Off a
terminal (a log file, a pipe, CI): no bar, but one plain line every `LONGVA_PROGRESS_INTERVAL`
seconds (default 10) with the same numbers, so a redirected run is never silent until the end:

    V-NIAH: 40/90 (44%), 2.1/s, elapsed 0:00:19, eta 0:00:23, 1,234 tok/s

A job shorter than one interval prints nothing; one that printed lines ends with a 100% line.
`LONGVA_PROGRESS=1` forces the bar, `LONGVA_PROGRESS=lines` the lines, `LONGVA_PROGRESS=0`
silences both. Processes that share a terminal (the workers of `longva reproduce`) use lines,
each prefixed with what the process is working on (`prefix_lines`).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
DEFAULT_INTERVAL_S = 10.0
_line_prefix = ""


def prefix_lines(prefix: str) -> None:
    """Start every progress line of this process with `prefix` ("" for none)."""
    global _line_prefix
    _line_prefix = prefix


def make_progress(*extra_columns, transient: bool = False, disable: bool | None = None) -> Progress:
    """A progress display with description, n/total, rate, ETA and any extra columns.

    Extra columns are usually `TextColumn("{task.fields[rate]}")` fed with e.g. tokens/s; off a
    terminal their text ends each line. `disable=True` silences it.
    """
    setting = os.environ.get("LONGVA_PROGRESS")
    if disable or setting == "0":
        return Progress(console=console, disable=True)
    if setting != "lines" and (sys.stderr.isatty() or setting == "1"):
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
        )
    return LineProgress(*extra_columns, interval_s=_interval())


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("LONGVA_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


class LineProgress(Progress):
    """rich's task bookkeeping (rates, ETA) with a plain line per interval instead of a live bar."""

    def __init__(self, *extra_columns, interval_s: float = DEFAULT_INTERVAL_S):
        super().__init__(*extra_columns, console=console, disable=True)
        self.extra_columns = extra_columns
        self.interval_s = interval_s
        self._last_line: dict[TaskID, float] = {}
        self._printed: set[TaskID] = set()

    def add_task(self, *args, **kwargs) -> TaskID:
        task_id = super().add_task(*args, **kwargs)
        self._last_line[task_id] = time.monotonic()
        return task_id

    def update(self, task_id: TaskID, *args, **kwargs) -> None:
        super().update(task_id, *args, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def stop(self) -> None:
        for task_id in list(self._printed):  # close the log of a job that printed lines
            task = self._tasks[task_id]
            if task.total is None or task.completed < task.total:
                self._print(task_id)
        super().stop()

    def _maybe_print(self, task_id: TaskID) -> None:
        now = time.monotonic()
        task = self._tasks[task_id]
        finished = task.total is not None and task.completed >= task.total
        if now - self._last_line.get(task_id, now) >= self.interval_s or (finished and task_id in self._printed):
            self._print(task_id)

    def _print(self, task_id: TaskID) -> None:
        self._last_line[task_id] = time.monotonic()
        self._printed.add(task_id)
        print(self.line(task_id), file=sys.stderr, flush=True)

    def line(self, task_id: TaskID) -> str:
        """`label: n/total (p%), rate/s, elapsed, eta, extra columns`."""
        task = self._tasks[task_id]
        done = f"{task.completed:,.0f}"
        parts = [f"{done}/{task.total:,.0f} ({task.percentage:.0f}%)" if task.total else done]
        speed = task.finished_speed or task.speed
        if speed:
            parts.append(f"{speed:,.2f}/s" if speed < 10 else f"{speed:,.0f}/s")
        parts.append(f"elapsed {_clock(task.elapsed)}")
        if task.time_remaining is not None and not task.finished:
            parts.append(f"eta {_clock(task.time_remaining)}")
        for column in self.extra_columns:
            text = _column_text(column, task)
            if text:
                parts.append(text)
        label = " ".join(str(task.description).split()) or "progress"
        return f"{_line_prefix}{label}: {', '.join(parts)}"


def _clock(seconds: float | None) -> str:
    return str(timedelta(seconds=int(seconds or 0)))


def _column_text(column, task) -> str:
    fmt = getattr(column, "text_format", None)
    if not isinstance(fmt, str):
        return ""
    try:
        text = fmt.format(task=task)
    except (KeyError, AttributeError, IndexError, ValueError):
        return ""
    return " ".join(text.split()).strip(" -")
