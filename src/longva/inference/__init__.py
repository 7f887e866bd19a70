"""Inference: chat with a LongVA model about videos and images, stream its answers.

    from longva.inference import load_pipeline
    pipe = load_pipeline("checkpoints/LongVA-7B-DPO", dtype="bfloat16", device="cuda")
    result = pipe.chat("What happens in this video?", video="talk.mp4", num_frames=32)
    follow = pipe.chat("And at the end?", history=result.history)

Modules: `visuals` (files/frames -> VisualInputs), `generation` (`generate`: splice, chunked
prefill into a KV cache, token-by-token decoding with streaming), `conversation` (`chat`: prompt
+ history), `pipeline` (model + processor), `session` (the CLI's loop), `info` (model summary).

Names are imported on first use: `longva.cli` imports `longva.inference.cli`, and every
`longva` command would otherwise pay seconds for importing torch and transformers. That is also
why no module is named like a function it exports (`generate`, `chat`): importing a submodule
sets the package attribute of its name, which would shadow the lazily exported function.
"""

from importlib import import_module

_EXPORTS = {
    "ChatHistory": "history", "Turn": "history",
    "ChatResult": "conversation", "chat": "conversation",
    "GenerationOutput": "generation", "generate": "generation",
    "model_info": "info",
    "KVState": "kv_state",
    "LongVAPipeline": "pipeline", "load_pipeline": "pipeline",
    "ChatSession": "session",
    "IncrementalDetokenizer": "streaming",
    "PreparedVisuals": "visuals", "prepare_visuals": "visuals",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'longva.inference' has no attribute {name!r}")
    return getattr(import_module(f"longva.inference.{_EXPORTS[name]}"), name)
