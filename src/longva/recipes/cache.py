"""Content-addressed stage cache: a stage's output folder is named by a hash of what it reads.

`stage_key(name, config_subset, upstream_keys)` hashes the stage name, the part of the config the
stage depends on and the keys of the stages it consumes, so a variant that only changes pooling
reuses the cached text LMs. A finished stage is a folder `<root>/<name>-<key>/` holding a
`DONE.json` marker written last; an unfinished one is `<name>-<key>.partial/` (kept so that a
stage that checkpoints can resume) and becomes final by an atomic rename. One process at a time
computes a stage: `StageDir.lock()` (an advisory file lock, released by the OS if the process dies)
keeps two runs sharing a cache, or a worker left over from a killed run, out of each other's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: stages are not locked (one run per cache)
    fcntl = None

from longva.utils.dataclass_config import to_dict
from longva.utils.io import atomic_write_json

CACHE_VERSION = 4  # bump when a stage's code changes what it produces


def stage_key(name: str, config: Any, upstream: dict[str, str] | None = None) -> str:
    payload = {"stage": name, "v": CACHE_VERSION, "config": to_dict(config), "upstream": upstream or {}}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class StageDir:
    root: Path
    name: str
    key: str

    @property
    def final(self) -> Path:
        return self.root / f"{self.name}-{self.key}"

    @property
    def partial(self) -> Path:
        return self.root / f"{self.name}-{self.key}.partial"

    @property
    def done(self) -> bool:
        return (self.final / "DONE.json").exists()

    @contextmanager
    def lock(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Hold this stage's lock; `on_wait` is called once if another process holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{self.name}-{self.key}.lock", "a") as handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    on_wait()
                    fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def begin(self) -> Path:
        """The working folder (kept across kills so checkpoints inside it can resume)."""
        self.partial.mkdir(parents=True, exist_ok=True)
        return self.partial

    def finish(self, info: dict) -> Path:
        atomic_write_json(self.partial / "DONE.json", info)
        if self.final.exists():  # a stale unfinished copy (no DONE) from an older layout
            shutil.rmtree(self.final)
        os.replace(self.partial, self.final)
        return self.final

    def info(self) -> dict:
        return json.loads((self.final / "DONE.json").read_text())
