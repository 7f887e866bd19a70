"""`longva niah-text`: passkey retrieval for an LM alone, from options to results (`--preset
text-toy`: the toy recipe's colour-word retrieval instead, `niah.toy`).

Order of work, so bad input fails before any model is loaded: mode and sizes -> grid -> model
(a transformers causal-LM folder, or the LM of a LongVA folder) -> filler, passkeys,
distractors -> cells (`text_niah.text_cells`) -> evaluation (`grid_run.run_plan`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from longva.errors import CheckpointError, InputError
from longva.model.rope import set_rope_theta
from longva.niah import toy
from longva.niah.embedding_cache import weights_fingerprint
from longva.niah.evaluator import MODES, Cell, GenerateConfig
from longva.niah.grid import Grid, make_grid
from longva.niah.grid_run import RunPlan, run_plan
from longva.niah.layout import TEXT
from longva.niah.sequence import EmbedFn, Source
from longva.niah.tasks.prompts import safe_tokenize
from longva.niah.text_niah import (
    PREFIX,
    QUESTION,
    load_filler,
    make_distractors,
    make_passkeys,
    period_ids,
    read_haystack_text,
    text_cells,
    text_sources,
)
from longva.utils.device import parse_dtype, resolve_device
from longva.utils.distributed import init_parallel
from longva.utils.paths import model_folder
from longva.utils.text_input import read_json


@dataclass
class TextNIAHOptions:
    model: Path
    out: Path
    haystack: str = "synthetic"  # 'synthetic', a .txt file or a folder of .txt files
    lengths: str | None = None  # token limits; None = the preset's
    depths: str | None = None
    preset: str = "text"
    samples: int = 5
    digits: int = 7
    distractors: int = 0
    seed: int = 24242424
    mode: str = "exact"
    rope_theta: float | None = None
    chunk_size: int = 1024
    max_new_tokens: int = 16
    dtype: str | None = None  # None = auto
    device: str = "cpu"
    max_cells: int | None = None


def run_text_niah(opts: TextNIAHOptions) -> dict | None:
    """Run (or resume) a text NIAH; rank 0 returns the summary."""
    if opts.mode not in MODES:
        raise InputError(f"--mode {opts.mode!r} is unknown; expected one of {', '.join(MODES)}")
    if opts.samples < 1 or opts.digits < 1 or opts.distractors < 0:
        raise InputError(
            f"--samples {opts.samples}, --digits {opts.digits}, --distractors {opts.distractors}:"
            " expected >= 1, >= 1, >= 0"
        )
    grid = make_grid(opts.lengths, opts.depths, opts.preset, "--lengths")
    if str(opts.haystack) != "synthetic":
        read_haystack_text(opts.haystack)  # a missing, binary or empty haystack fails before the model loads
    if opts.preset == toy.TEXT_PRESET:
        toy.check_text_options(opts.haystack, opts.distractors)
    init_parallel()
    device = resolve_device(opts.device)
    lm, tokenizer = load_text_model(opts.model, parse_dtype(opts.dtype or "auto", device), device)
    if opts.rope_theta is not None:
        set_rope_theta(lm, opts.rope_theta)
    cells, sources = _text_inputs(opts, grid, lm, tokenizer)
    eos = getattr(tokenizer, "eos_token_id", None)
    gen = GenerateConfig(
        lm_embed_fn(lm), tokenizer.decode, (eos,) if eos is not None else (), opts.max_new_tokens
    )
    settings = {
        "benchmark": "text-niah",
        "model": weights_fingerprint(opts.model),
        "haystack": str(opts.haystack),
        "samples": opts.samples,
        "digits": opts.digits,
        "distractors": opts.distractors,
        "seed": opts.seed,
        "mode": opts.mode,
        "rope_theta": opts.rope_theta,
    }
    if opts.preset == toy.TEXT_PRESET:
        settings["task"] = "toy colour words"
    plan = RunPlan(
        lm=lm,
        sources=sources,
        cells=cells,
        grid=grid,
        n_needles=opts.samples,
        layout=TEXT,
        out_dir=opts.out,
        settings=settings,
        mode=opts.mode,
        chunk_size=opts.chunk_size,
        generate=gen if opts.mode == "generate" else None,
        decode=tokenizer.decode,
        max_cells=opts.max_cells,
    )
    return run_plan(plan, "text NIAH")


def _text_inputs(
    opts: TextNIAHOptions, grid: Grid, lm, tokenizer
) -> tuple[list[Cell], dict[str, Source]]:
    if opts.preset == toy.TEXT_PRESET:  # the recipe's colour word in its filler and chat prompt
        task = toy.text_task(tokenizer, opts.model)
        cells, sources, _ = toy.colour_text_inputs(task, lm_embed_fn(lm), grid, opts.samples, opts.seed)
        return cells, sources
    hay = load_filler(opts.haystack, tokenizer, grid.max_length, seed=opts.seed)
    vocab = max(len(tokenizer), int(max(hay)) + 1)
    dots = period_ids(tokenizer, vocab)
    periods = np.array(
        [i for i, t in enumerate(hay[: grid.max_length]) if t in dots], dtype=np.int64
    )
    keys = make_passkeys(tokenizer, opts.samples, opts.digits, opts.seed)
    fracs, distractor_ids = make_distractors(tokenizer, opts.distractors, opts.digits, opts.seed)
    prefix, question = list(tokenizer.encode(PREFIX)), safe_tokenize(tokenizer, QUESTION)
    distractors = [(f, len(i)) for f, i in zip(fracs, distractor_ids, strict=True)]
    cells = text_cells(grid, keys, periods, len(prefix), len(question), distractors)
    sources = text_sources(lm_embed_fn(lm), hay, prefix, question, keys, distractor_ids)
    return cells, sources


def lm_embed_fn(lm: torch.nn.Module) -> EmbedFn:
    emb = lm.get_input_embeddings()
    device = emb.weight.device
    return lambda ids: emb(ids.to(device))


def load_text_model(
    model_dir: str | os.PathLike, dtype: torch.dtype | None = None, device="cpu"
):
    """(causal LM, tokenizer) from a plain HF causal-LM folder or the LM of a LongVA folder."""
    model_dir = Path(model_dir)
    config = model_folder(model_dir) / "config.json"
    try:
        raw = read_json(config, "config.json")  # UTF-8, valid JSON, an object
    except InputError as e:
        raise CheckpointError(str(e)) from None
    if raw.get("model_type") == "longva" or any(k.startswith("mm_") for k in raw):
        from longva.model.modeling_longva import LongVAForCausalLM
        from longva.model.processor import LongVAProcessor

        model = LongVAForCausalLM.from_pretrained(model_dir, dtype=dtype, device=device)
        return model.language_model, LongVAProcessor.from_pretrained(model_dir).tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        lm = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError, TypeError, RuntimeError) as e:  # bad values, shapes that do not fit
        first = " ".join(str(e).split())[:200]
        raise CheckpointError(
            f"--model {str(model_dir)!r} cannot be loaded as a causal LM ({type(e).__name__}: {first})"
        ) from None
    return lm.to(device).eval(), tokenizer
