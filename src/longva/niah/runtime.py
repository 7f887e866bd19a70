"""Where a NIAH run keeps its cache and which device it runs on."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from longva.errors import InputError


def default_cache_dir() -> Path:
    return Path(os.environ.get("LONGVA_CACHE", Path.home() / ".cache" / "longva")) / "niah"


def resolve_device(name: str) -> str:
    """cpu, cuda (this rank's GPU under torchrun), cuda:N, or auto."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(
                f"--device {name!r} asked for but CUDA is not available; expected cpu or auto"
            )
        local = int(os.environ.get("LOCAL_RANK", 0))
        return f"cuda:{local}" if name == "cuda" else name
    return name
