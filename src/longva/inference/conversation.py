"""Chat with a LongVA model about a video and/or images, one call per turn.

    result = chat(model, processor, "What happens?", video="talk.mp4", num_frames=32)
    again = chat(model, processor, "And then?", history=result.history)  # same video, kept

Prompt (qwen_1_5): `<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
<image>\\n{question}<|im_end|>\\n<|im_start|>assistant\\n` with earlier turns before the new one.
Decoding defaults to greedy (temperature 0, as lmms-eval); a temperature > 0 samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from longva.errors import InputError
from longva.inference.generation import encode_visuals, generate
from longva.inference.history import ChatHistory, Turn
from longva.inference.kv_state import KVState
from longva.inference.visuals import ImageLike, PreparedVisuals, VideoLike, prepare_visuals


@dataclass
class ChatResult:
    answer: str
    frames_used: list[int] | None  # video frame indices read (None: no video this turn)
    visual_tokens: int  # visual tokens added by this turn's video/images
    prompt_tokens: int  # the whole prompt after splicing (history included)
    new_tokens: int  # generated, the stop token excluded
    finish_reason: str  # "stop" (template stop token) or "length" (max_new_tokens)
    timings: dict[str, float] = field(default_factory=dict)  # decode/preprocess/encode/prefill/generate/total s
    history: ChatHistory = field(default_factory=ChatHistory)
    reused_tokens: int = 0  # prompt positions served from the kept KV cache


def chat(
    model,
    processor,
    question: str,
    video: VideoLike | None = None,
    images: Sequence[ImageLike] | None = None,
    num_frames: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    history: ChatHistory | None = None,
    visuals: PreparedVisuals | None = None,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    do_sample: bool | None = None,
    seed: int | None = None,
    callback: Callable[[str], None] | None = None,
    system: str | None = None,
    frame_mode: str | None = None,
    keep_cache: bool = False,
) -> ChatResult:
    """Answer `question` about this turn's video/images and everything in `history`.

    video: a file path (num_frames uniform, default 32, or fps; start/end in seconds), a
    (N, H, W, 3) uint8 array, a list of PIL frames or a SampledVideo. images: paths or PIL
    images. visuals: already prepared ones (`prepare_visuals`) instead of video/images.
    do_sample defaults to temperature > 0. system: the system message (first turn only).
    keep_cache: keep the KV cache in the returned history (and use the one `history` kept), so
    the next turn prefills only its new tokens. Off by default: the cache of a long video is
    large (11 GB for 200K tokens of LongVA-7B) and stays allocated while the history is held
    (`history.forget_cache()` frees it).
    """
    if not question or not question.strip():
        raise InputError("the question is empty; expected some text to ask")
    history = history or ChatHistory(system=system)
    if system is not None and history.turns and system != history.system:
        raise InputError("system message given for a follow-up turn; set it on the first turn only")
    if visuals is not None and (video is not None or images):
        raise InputError("give visuals or video/images, not both")
    visuals = visuals or prepare_visuals(processor, video, images, num_frames, fps, start, end, frame_mode)
    if temperature < 0:
        raise InputError(f"temperature={temperature}; expected 0 (greedy) or a positive value")
    t_start = time.perf_counter()  # total = this + reading/preprocessing, wherever that ran

    t0 = time.perf_counter()
    new_features = encode_visuals(model, visuals.inputs)  # [(tokens, D)] for this turn
    encode_s = time.perf_counter() - t0

    messages = processor.build_messages(question, len(new_features), history.messages())
    input_ids = processor.encode_prompt(messages, system=history.system)  # (1, L)
    kv = (history.kv or KVState()) if keep_cache else None
    sample = temperature > 0 if do_sample is None else do_sample
    out = generate(
        model, processor, input_ids, visual_features=list(history.features) + new_features,
        max_new_tokens=max_new_tokens, do_sample=sample,
        temperature=temperature if sample else 1.0, top_p=top_p, callback=callback,
        seed=seed, kv=kv,
    )
    turn = Turn(messages[-1][1], out.text, tuple(visuals.sources))
    timings = {
        "decode": visuals.decode_seconds, "preprocess": visuals.preprocess_seconds, "encode": encode_s,
        "prefill": out.timings["prefill"], "generate": out.timings["generate"],
        "total": visuals.decode_seconds + visuals.preprocess_seconds + time.perf_counter() - t_start,
    }
    return ChatResult(
        answer=out.text,
        frames_used=visuals.frames_used,
        visual_tokens=sum(int(f.shape[0]) for f in new_features),
        prompt_tokens=out.prompt_tokens,
        new_tokens=len(out.token_ids),
        finish_reason=out.finish_reason,
        timings=timings,
        history=history.then(turn, new_features, kv),
        reused_tokens=out.reused_tokens,
    )
