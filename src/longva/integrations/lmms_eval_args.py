"""`--model_args` of `lmms-eval --model longva`: the built-in LongVA wrapper's names, checked.

lmms-eval parses `--model_args a=1,b=x` into keyword arguments (numbers and booleans already
converted) and adds its own `--device` / `--batch_size`. Every name lmms-eval's built-in
`longva` wrapper documents for LongVA runs is accepted with the same meaning, plus
`torch_dtype`; an unknown name is an error listing the accepted ones (the built-in wrapper
asserted on it; silently ignoring a misspelt `max_frame_num` would evaluate at 32 frames).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from longva.errors import ConfigError
from longva.model.prompt import TEMPLATES
from longva.utils.device import DTYPE_NAMES

VIDEO_BACKENDS = ("pyav", "decord")  # both read with longva.data's frame-accurate PyAV reader
TOKEN_STRATEGIES = ("single", "multiple")
POOL_MODES = {"average": "avg", "avg": "avg", "max": "max"}
ATTENTION = ("sdpa", "eager", "flash_attention_2")


@dataclass(frozen=True)
class LmmsEvalArgs:
    pretrained: str  # a LongVA model folder (ours or an original LongVA checkpoint) or a hub id
    conv_template: str | None = None  # qwen_1_5 | llama_3 | plain; default: the model's own
    max_frames_num: int = 32  # frames sampled uniformly from each video
    video_decode_backend: str = "pyav"
    model_name: str | None = (
        None  # accepted for compatibility (the original picked its builder by it)
    )
    token_strategy: str = "single"  # one <image> per video, or one per frame ("multiple")
    mm_spatial_pool_stride: int | None = None  # replaces the model's pooling (kernel = stride)
    mm_spatial_pool_mode: str | None = None  # average | max
    device_map: str | None = None  # a device (cpu, cuda, cuda:N, auto); the model is not sharded
    attn_implementation: str | None = None  # sdpa | eager | flash_attention_2
    torch_dtype: str = "auto"  # auto: bf16 on GPU (fp16 makes Qwen2 answer "!!!!"), fp32 on CPU
    device: str | None = None  # lmms-eval's --device
    batch_size: int | str = 1  # lmms-eval's --batch_size: requests are answered one at a time
    max_batch_size: int | None = None  # lmms-eval's --max_batch_size (unused, as batch_size)


ACCEPTED = tuple(f.name for f in fields(LmmsEvalArgs))


def parse_model_args(kwargs: dict) -> LmmsEvalArgs:
    """Check names and values; one-line ConfigError naming the argument otherwise."""
    unknown = sorted(set(kwargs) - set(ACCEPTED))
    if unknown:
        raise ConfigError(
            f"lmms-eval --model_args: unknown argument(s) {', '.join(unknown)} for"
            f" --model longva; accepted: {', '.join(ACCEPTED)}"
        )
    if not kwargs.get("pretrained"):
        raise ConfigError(
            "lmms-eval --model_args: pretrained=DIR is required for --model longva"
            " (a LongVA model folder)"
        )
    values = {k: v for k, v in kwargs.items() if v is not None}
    if isinstance(values.get("batch_size"), str) and values["batch_size"].isdigit():
        values["batch_size"] = int(values["batch_size"])  # lmms-eval's CLI passes it as text
    args = LmmsEvalArgs(**values)
    _check(args)
    return args


def _check(a: LmmsEvalArgs) -> None:
    _choice("conv_template", a.conv_template, tuple(TEMPLATES), optional=True)
    _choice("video_decode_backend", a.video_decode_backend, VIDEO_BACKENDS)
    _choice("token_strategy", a.token_strategy, TOKEN_STRATEGIES)
    _choice("mm_spatial_pool_mode", a.mm_spatial_pool_mode, tuple(POOL_MODES), optional=True)
    _choice("attn_implementation", a.attn_implementation, ATTENTION, optional=True)
    _choice("torch_dtype", a.torch_dtype, DTYPE_NAMES)
    _positive("max_frames_num", a.max_frames_num)
    if a.mm_spatial_pool_stride is not None:
        _positive("mm_spatial_pool_stride", a.mm_spatial_pool_stride)
    if not (isinstance(a.batch_size, str) and a.batch_size.startswith("auto")):
        _positive("batch_size", a.batch_size)


def _choice(name: str, value, choices: tuple[str, ...], optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise ConfigError(
            f"lmms-eval --model_args: {name}={value!r} for --model longva; expected"
            f" one of {', '.join(choices)}"
        )


def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"lmms-eval --model_args: {name}={value!r} for --model longva; expected"
            " a positive integer"
        )
