"""`longva niah run`: options of a V-NIAH run (any model type, any task family).

The work is done by `task_run.run_tasks` (adapters + task builder); this module keeps the
options and the names other code imports (`prompt_pieces`, `tokenize_needles`, `run_vniah`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from longva.niah.adapters.longva import prompt_pieces
from longva.niah.needles import Needle
from longva.niah.runtime import default_cache_dir
from longva.niah.task_run import run_tasks
from longva.niah.text_niah import safe_tokenize
from longva.niah.vniah import NeedlePrompt

__all__ = ["VNIAHOptions", "default_cache_dir", "prompt_pieces", "run_vniah", "tokenize_needles"]


@dataclass
class VNIAHOptions:
    model: Path
    out: Path
    haystack: str = "synthetic"  # a video path, a frame folder, or "synthetic"
    needles: str = "synthetic"  # a needle folder or "synthetic"
    frames: str | None = None  # grid spec; None = the preset's
    depths: str | None = None
    preset: str = "original"
    mode: str = "exact"  # exact | generate | mc
    rope_theta: float | None = None
    chunk_size: int = 1024
    cache_dir: Path | None = None
    fps: float = 1.0
    haystack_frames: int | None = None  # sample N frames uniformly instead of fps
    synthetic: dict = field(default_factory=dict)  # SyntheticHaystack options
    needle_options: dict = field(default_factory=dict)  # generate_needles options (single)
    max_new_tokens: int = 16
    dtype: str | None = None
    device: str = "cpu"
    max_cells: int | None = None
    model_type: str = "auto"  # or one of adapters.MODEL_TYPES
    task: str = "single"  # one of tasks.TASKS
    task_options: dict = field(default_factory=dict)  # the family generator's options
    label: str | None = None  # the model's name in comparisons (default: the folder name)


def tokenize_needles(needles: list[Needle], tokenizer) -> list[NeedlePrompt]:
    return [
        NeedlePrompt(
            n.id,
            tuple(safe_tokenize(tokenizer, n.prompt)),
            tuple(safe_tokenize(tokenizer, n.answer)),
            n.answer,
            bool(n.options),
        )
        for n in needles
    ]


def run_vniah(opts: VNIAHOptions) -> dict | None:
    return run_tasks(opts)
