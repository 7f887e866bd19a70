"""A loaded model + processor with `.chat(...)` and `.generate(...)` (what the CLI uses).

    pipe = load_pipeline("checkpoints/LongVA-7B", dtype="bfloat16", device="cuda")
    print(pipe.chat("What is the man doing?", video="talk.mp4").answer)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch

from longva.errors import ConfigError
from longva.inference.conversation import ChatResult, chat
from longva.inference.generation import GenerationOutput, generate
from longva.utils.device import parse_dtype, resolve_device


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
    check_chat_layout(model.config, model_dir)
    with transformers_errors_only():
        processor = LongVAProcessor.from_pretrained(model_dir, config=model.config)
    return LongVAPipeline(model, processor, model_dir)


def check_chat_layout(config, model_dir) -> None:
    """Chat prefills causally with one placeholder per visual: refuse what it would get wrong."""
    if config.visual_position == "interleaved" or config.attention != "causal":
        raise ConfigError(
            f"{model_dir}: visual_position={config.visual_position!r}, attention={config.attention!r}; chat"
            " supports before_text / after_text with causal attention (the toy recipe's evaluations cover the rest)"
        )


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
