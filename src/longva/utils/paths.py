"""Where a command reads and writes, checked before any work.

Every writer calls `output_dir` / `output_file` on its output locations while it handles its
arguments, so an `--out` that is a file, that lies under a file, on a read-only or full
filesystem, or where this user may not write fails in a second with one line naming the option,
the path and what is expected, and before anything is computed or created. Nothing is created
here: the check writes (and removes) a small probe file in the deepest folder that exists.

Readers call `input_file` / `input_dir`, which tell "does not exist" from "exists, but is a
folder where a file is expected" (and the reverse).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from longva.errors import InputError

MIN_FREE_BYTES = 1 << 20  # below this a filesystem counts as full: no result file would fit
_PROBE = b"\0" * 4096  # one block: a full filesystem refuses it even when a new inode fits


def output_dir(path: str | os.PathLike, option: str, expected: str = "a folder (created if missing)") -> Path:
    """`path` as a folder a command writes into (it may not exist yet); one-line error otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a file; expected {expected}")
    _check_writable(path, option, expected)
    return path


def output_file(path: str | os.PathLike, option: str, expected: str = "a file path") -> Path:
    """`path` as a file a command (re)writes; its folder may not exist yet."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a folder; expected {expected}")
    _check_writable(path.parent if str(path.parent) else Path("."), option, expected, shown=path)
    return path


def input_file(path: str | os.PathLike, option: str, expected: str = "a file") -> Path:
    """`path` as an existing, readable file."""
    path = Path(path)
    _check_exists(path, option, expected)
    if path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a folder; expected {expected}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{option} {str(path)!r} is not readable; expected {expected}")
    return path


def input_dir(path: str | os.PathLike, option: str, expected: str = "a folder") -> Path:
    """`path` as an existing folder."""
    path = Path(path)
    _check_exists(path, option, expected)
    if not path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a file; expected {expected}")
    return path


def model_folder(path: str | os.PathLike, option: str = "--model") -> Path:
    """`path` as a model folder: an existing folder holding config.json."""
    path = input_dir(path, option, "a model folder with config.json")
    if not (path / "config.json").is_file():
        raise InputError(f"{option} {str(path)!r} has no config.json; expected a model folder")
    return path


def _check_exists(path: Path, option: str, expected: str) -> None:
    if path.exists():
        return
    if path.is_symlink():
        raise InputError(f"{option} {str(path)!r} is a broken symbolic link; expected {expected}")
    raise InputError(f"{option} {str(path)!r} does not exist; expected {expected}")


def _check_writable(folder: Path, option: str, expected: str, shown: Path | None = None) -> None:
    shown = shown or folder
    base = _deepest_existing(folder)
    if not base.is_dir():
        raise InputError(
            f"{option} {str(shown)!r}: {str(base)!r} is a file, so no folder can be made there; expected {expected}"
        )
    problem = filesystem_problem(base)
    if problem:
        raise InputError(f"{option} {str(shown)!r}: {problem}; expected {expected} where files can be written")


def _deepest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and not path.is_symlink() and path != path.parent:
        path = path.parent
    return path


def filesystem_problem(folder: Path) -> str | None:
    """Why nothing can be written in the existing `folder` (None: it can)."""
    try:
        stats = os.statvfs(folder)
    except OSError as e:
        return f"{str(folder)!r} cannot be inspected ({e.strerror})"
    if stats.f_flag & os.ST_RDONLY:
        return f"{str(folder)!r} is on a read-only filesystem"
    try:
        fd, probe = tempfile.mkstemp(prefix=".longva-write-check-", dir=folder)
    except OSError as e:
        return f"{str(folder)!r} is not writable ({e.strerror})"
    try:
        os.write(fd, _PROBE)
        os.fsync(fd)
    except OSError as e:
        return f"{str(folder)!r} cannot be written ({e.strerror})"
    finally:
        os.close(fd)
        os.unlink(probe)
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        return f"the filesystem of {str(folder)!r} is full ({free:,} bytes free)"
    return None
