"""A loaded model + processor with `.chat(...)` and `.generate(...)` (what the CLI uses).

    pipe = load_pipeline("checkpoints/LongVA-7B", dtype="bfloat16", device="cuda")
    print(pipe.chat("What is the man doing?", video="talk.mp4").answer)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch

from longva.errors import InputError
from longva.inference.conversation import ChatResult, chat
from longva.inference.generation import GenerationOutput, generate

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}


def parse_dtype(dtype: str | torch.dtype | None, device: torch.device | None = None) -> torch.dtype | None:
    """A dtype name -> torch dtype: "auto" is bf16 on a GPU and fp32 on CPU (CPU bf16 is slow);
    None stays None, which loads in torch's default dtype (fp32) whatever the checkpoint's."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device is not None and device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r} is unknown; expected auto or one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" -> cuda when available, else cpu; anything else must be a device torch accepts."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"device {device!r} is not a torch device; expected cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
    return resolved


class LongVAPipeline:
    def __init__(self, model, processor, model_dir: str | os.PathLike | None = None):
        self.model = model.eval()
        self.processor = processor
        self.model_dir = Path(model_dir) if model_dir is not None else None

    def chat(self, question: str, **kwargs) -> ChatResult:
        """`longva.inference.chat.chat` with this pipeline's model and processor."""
        return chat(self.model, self.processor, question, **kwargs)

    def generate(self, input_ids, **kwargs) -> GenerationOutput:
        """`longva.inference.generate.generate` with this pipeline's model and processor."""
        return generate(self.model, self.processor, input_ids, **kwargs)


def load_pipeline(
    model_dir: str | os.PathLike, dtype: str | torch.dtype | None = "auto", device: str | torch.device = "cpu"
) -> LongVAPipeline:
    """Load a model directory (ours or an original LongVA checkpoint) with its tokenizer.

    dtype "auto" (the default, as the CLI's): bf16 on a GPU (fp16 makes Qwen2 emit "!!!!"), fp32
    on CPU."""
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor

    device = resolve_device(device)
    model = LongVAForCausalLM.from_pretrained(model_dir, dtype=parse_dtype(dtype, device), device=device)
    with transformers_errors_only():
        processor = LongVAProcessor.from_pretrained(model_dir, config=model.config)
    return LongVAPipeline(model, processor, model_dir)


@contextmanager
def transformers_errors_only():
    """AutoTokenizer reads our config.json (model_type "longva", unknown to transformers) and
    warns that it "instantiates a model of type ``"; harmless for a tokenizer, but it would be
    the one stray line on the CLI's stderr."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
