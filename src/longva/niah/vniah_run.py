"""`longva niah run`: a whole V-NIAH run from a model folder, a haystack and needles.

Order of work, so bad input fails in a second and before any model is loaded: grid spec ->
needles -> haystack length -> model -> embeddings (cached) -> cells -> evaluation -> summary.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from longva.errors import InputError
from longva.niah.distributed import barrier, init_from_env, world
from longva.niah.embedding_cache import EmbeddingCache, FrameStore, file_fingerprint
from longva.niah.evaluator import MODES, GenerateConfig
from longva.niah.grid import Grid, make_grid
from longva.niah.haystack import SyntheticHaystack, check_length, open_haystack
from longva.niah.models import VisionNIAHModel, load_vision_model, resolve_dtype
from longva.niah.needles import Needle, load_needles
from longva.niah.results import VNIAH
from longva.niah.runner import RunPlan, run_plan
from longva.niah.synthetic_needles import generate_needles
from longva.niah.text_niah import safe_tokenize
from longva.niah.vniah import NeedlePrompt, vniah_cells, vniah_sources
from longva.utils.io import atomic_write_text


@dataclass
class VNIAHOptions:
    model: Path
    out: Path
    haystack: str = "synthetic"  # a video path, a frame folder, or "synthetic"
    needles: str = "synthetic"  # a needle folder or "synthetic"
    frames: str | None = None  # grid spec; None = the preset's
    depths: str | None = None
    preset: str = "original"
    mode: str = "exact"
    rope_theta: float | None = None
    chunk_size: int = 1024
    cache_dir: Path | None = None
    fps: float = 1.0
    haystack_frames: int | None = None  # sample N frames uniformly instead of fps
    synthetic: dict = field(default_factory=dict)  # SyntheticHaystack options
    needle_options: dict = field(default_factory=dict)  # generate_needles options
    max_new_tokens: int = 16
    dtype: str | None = None
    device: str = "cpu"
    max_cells: int | None = None


def default_cache_dir() -> Path:
    return Path(os.environ.get("LONGVA_CACHE", Path.home() / ".cache" / "longva")) / "niah"


def prompt_pieces(template_name: str) -> tuple[str, str]:
    """(preprompt, postprompt) around the visual tokens + question, from the chat template.

    qwen_1_5 gives the original's strings: "<|im_start|>system\\nYou are a helpful
    assistant.<|im_end|>\\n<|im_start|>user\\n" and "<|im_end|>\\n<|im_start|>assistant\\n".
    """
    from longva.model.prompt import get_template

    marker = "\x00"
    text = get_template(template_name).render([("user", marker)], add_generation_prompt=True)
    pre, post = text.split(marker)
    return pre, post


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


def _needles(opts: VNIAHOptions, rank: int) -> list[Needle]:
    """The needle folder, or synthetic needles written once into <out>/needles."""
    if opts.needles != "synthetic":
        return load_needles(opts.needles)
    folder = opts.out / "needles"
    params = json.dumps(opts.needle_options, sort_keys=True, default=list)
    made = folder / "generator.json"
    if rank == 0 and not made.exists():
        generate_needles(folder, **opts.needle_options)
        atomic_write_text(made, params)
    barrier()
    if made.read_text() != params:
        raise InputError(
            f"--out {str(opts.out)!r} holds synthetic needles made with other options"
            f" ({made.read_text()}); expected a new --out or the same needle options"
        )
    return load_needles(folder)


def _embed_haystack(vm: VisionNIAHModel, haystack, grid: Grid, cache: EmbeddingCache) -> FrameStore:
    from longva.utils.progress import make_progress

    key = {**vm.visual_key, "haystack": haystack.identity()}
    finite = None if isinstance(haystack, SyntheticHaystack) else len(haystack)
    with make_progress() as progress:
        task = progress.add_task("encoding haystack", total=grid.max_length)
        return cache.get(
            key,
            grid.max_length,
            haystack.frames_from,
            vm.encode,
            finite,
            lambda n: progress.advance(task, n),
        )


def _embed_needles(
    vm: VisionNIAHModel, needles: list[Needle], cache: EmbeddingCache
) -> torch.Tensor:
    """(N, tpf, D) needle embeddings, cached like the haystack (keyed by the image files)."""
    key = {**vm.visual_key, "needles": [file_fingerprint(n.image) for n in needles]}

    def frames_from(start: int):
        for n in needles[start:]:
            with Image.open(n.image) as im:
                yield np.asarray(im.convert("RGB"))

    store = cache.get(key, len(needles), frames_from, vm.encode, source_frames=len(needles))
    return store.frames(0, len(needles))


def run_vniah(opts: VNIAHOptions) -> dict | None:
    if opts.mode not in MODES:
        raise InputError(f"--mode {opts.mode!r} is unknown; expected one of {', '.join(MODES)}")
    grid = make_grid(opts.frames, opts.depths, opts.preset, "--frames")
    init_from_env()
    rank, _ = world()
    needles = _needles(opts, rank)
    synthetic = {k: v for k, v in opts.synthetic.items() if v is not None}
    haystack = open_haystack(
        opts.haystack, fps=opts.fps, num_frames=opts.haystack_frames, **synthetic
    )
    check_length(haystack, grid.max_length)

    device = _device(opts.device)
    vm = load_vision_model(opts.model, resolve_dtype(opts.dtype, device), device)
    if opts.rope_theta is not None:
        from longva.train.rope import set_rope_theta

        set_rope_theta(vm.lm, opts.rope_theta)
    cache = EmbeddingCache(opts.cache_dir or default_cache_dir())
    hay, needle_emb = _embeddings_once(vm, haystack, needles, grid, cache, rank)

    prompts = tokenize_needles(needles, vm.tokenizer)
    pre, post = (safe_tokenize(vm.tokenizer, s) for s in prompt_pieces(vm.template))
    cells = vniah_cells(
        grid, prompts, vm.tokens_per_frame, needle_emb.shape[1], len(pre), len(post)
    )
    sources = vniah_sources(vm.embed_fn, pre, post, hay, needle_emb, prompts)
    gen = (
        GenerateConfig(vm.embed_fn, vm.decode, vm.stop_ids, opts.max_new_tokens)
        if opts.mode == "generate"
        else None
    )
    settings = {
        "benchmark": "v-niah",
        "model": vm.visual_key["weights"],
        "haystack": haystack.identity(),
        "needles": [file_fingerprint(n.image) + ":" + n.prompt + "=" + n.answer for n in needles],
        "mode": opts.mode,
        "rope_theta": opts.rope_theta,
        "template": vm.template,
    }
    plan = RunPlan(
        vm.lm,
        sources,
        cells,
        grid,
        len(needles),
        VNIAH,
        opts.out,
        settings,
        opts.mode,
        opts.chunk_size,
        gen,
        vm.decode,
        opts.max_cells,
    )
    return run_plan(plan, "V-NIAH")


def _embeddings_once(vm, haystack, needles, grid, cache, rank):
    """Rank 0 encodes (and caches) first; the other ranks then only read the cache."""
    if rank != 0:
        barrier()
    embeddings = _embed_haystack(vm, haystack, grid, cache), _embed_needles(vm, needles, cache)
    if rank == 0:
        barrier()
    return embeddings


def _device(name: str) -> str:
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
