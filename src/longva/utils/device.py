"""Device and dtype names, as every command takes them (`--device`, `--dtype`).

    resolve_device("auto")        -> cuda when available, else cpu; "cuda" under torchrun is
                                     this rank's GPU (cuda:LOCAL_RANK)
    parse_dtype("bf16", device)   -> torch.bfloat16; "auto": bf16 on a GPU, fp32 on CPU (CPU bf16
                                     is slow, and fp16 makes Qwen2 answer "!!!!")
"""

from __future__ import annotations

import os

import torch

from longva.errors import InputError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
DTYPE_NAMES = ("auto", *DTYPES)


def resolve_device(name: str | torch.device, flag: str = "--device") -> torch.device:
    """auto, cpu, cuda (this rank's GPU under torchrun) or cuda:N, checked before any compute."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(
            f"{flag} {name!r} is not a torch device; expected cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{flag} {name!r} asked for but CUDA is not available; expected cpu or auto")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def parse_dtype(
    name: str | torch.dtype | None, device: torch.device | str | None = None, flag: str = "--dtype"
) -> torch.dtype | None:
    """A dtype name -> torch dtype; None stays None (torch's default dtype, fp32)."""
    if name is None or isinstance(name, torch.dtype):
        return name
    if name == "auto":
        return torch.bfloat16 if device is not None and torch.device(device).type == "cuda" else torch.float32
    if name not in DTYPES:
        raise InputError(f"{flag} {name!r} is unknown; expected one of {', '.join(DTYPE_NAMES)}")
    return DTYPES[name]
