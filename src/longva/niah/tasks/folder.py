"""Task folders: `task.json` + the images/clips it names (what generators write, loaders read).

    {"task": "counting", "items": [{"id": ..., "image": "images/a.png", "count": 3, ...}, ...]}

Paths are resolved inside the folder (`safe_join`: no absolute paths, no `..`) and must exist;
a visual may be an image or a short clip (a video file, read at the run's fps). Each family
parses its own item fields (`longva.niah.tasks.<family>.load_item`) with the helpers here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from longva.errors import InputError
from longva.niah.needles import OPTION_LETTERS
from longva.niah.tasks.spec import Question, TaskItem, TaskSet
from longva.utils.io import atomic_write_json, safe_join

TASK_FILE = "task.json"
CLIP_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass
class FolderContext:
    """Visuals of a folder, deduplicated in first-seen order."""

    folder: Path
    visuals: list[Path] = field(default_factory=list)

    def visual(self, row: dict, key: str, where: str) -> int:
        name = row.get(key)
        if not isinstance(name, str):
            raise InputError(f"{where} lacks string field {key!r} (an image or clip in the folder)")
        path = safe_join(self.folder, name, what=f"{where} {key}")
        if not path.is_file():
            raise InputError(f"{where} {key} {name!r} does not exist in {self.folder}")
        if path not in self.visuals:
            self.visuals.append(path)
        return self.visuals.index(path)


def text_field(row: dict, key: str, where: str, default: str | None = None) -> str:
    value = row.get(key, default)
    if not isinstance(value, str):
        raise InputError(f"{where} lacks string field {key!r}")
    return value


def question(
    row: dict, where: str, default_answer: str | None = None, default_text=None
) -> Question:
    """A question from `question` / `answer` / `options` / `choices`.

    `options`: always multiple choice (an answer letter becomes its option); `choices`: the
    candidates `--mode mc` rotates (the question is open in the other modes).
    """
    text = text_field(row, "question", where, default_text)
    answer = text_field(row, "answer", where, default_answer)
    options, choices = _strings(row, "options", where), _strings(row, "choices", where)
    if options and answer in OPTION_LETTERS[: len(options)] and answer not in options:
        answer = options[OPTION_LETTERS.index(answer)]
    for key, values in (("options", options), ("choices", choices)):
        if values and answer not in values:
            raise InputError(f"{where} answer {answer!r} is not one of its {key} {list(values)}")
    return Question(text, answer, options, choices)


def _strings(row: dict, key: str, where: str) -> tuple[str, ...]:
    values = row.get(key) or ()
    if not isinstance(values, list | tuple) or not all(isinstance(v, str | int) for v in values):
        raise InputError(f"{where} {key} must be a list of strings")
    if len(values) > len(OPTION_LETTERS):
        raise InputError(f"{where} has {len(values)} {key}; expected at most {len(OPTION_LETTERS)}")
    return tuple(str(v) for v in values)


def read_rows(folder: str | Path, task: str) -> tuple[FolderContext, list[dict]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"needle folder {str(folder)!r} does not exist; expected a folder with {TASK_FILE}"
        )
    path = folder / TASK_FILE
    if not path.is_file():
        raise InputError(
            f"needle folder {str(folder)!r} has no {TASK_FILE}; expected the {task} task's JSON"
            " next to its images"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path} is not valid JSON; expected {{task, items}}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise InputError(f"{path} is not an object with an 'items' list")
    if data.get("task", task) != task:
        raise InputError(f"{path} holds a {data.get('task')!r} task; expected {task!r}")
    rows = data["items"]
    if not rows:
        raise InputError(f"{path} lists no items")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"{path} item {i} is a {type(row).__name__}; expected an object")
    return FolderContext(folder), rows


def write_task(folder: Path, task: str, rows: list[dict]) -> Path:
    atomic_write_json(folder / TASK_FILE, {"task": task, "items": rows})
    return folder


def taskset(task: str, ctx: FolderContext, items: list[TaskItem]) -> TaskSet:
    return TaskSet(task, tuple(ctx.visuals), tuple(items))
