"""Text NIAH (passkey retrieval) for an LM alone, as LongVA's `text_extend/eval_text_niah.py`.

Per cell (sample n, token limit T, depth d), with the haystack cut to its first T tokens:

    prefix + hay[0:s] + needle_n + hay[s:T] + question + answer_n

`prefix` = "This is a very long story book: <book>", needle = "\\nThe special magic Singapore
number is: {N}.\\n", question = "</book>.\\n Based on the content of the book, Question: What is
the special magic Singapore number? Answer: The special magic Singapore number is: ", answer =
the digits of N (a random `digits`-digit number per sample). `s = int(T*d)` moved to just after
the next "." token (the original hard-coded Llama-2's '.' ids; here: every token whose text ends
with "."); depth 0 means the very start. Optional distractors (other cities, their own numbers)
sit at fixed fractions of the haystack drawn from the seed, so every cell of a sample sees the
same relative layout and cells still share prefixes (the original re-draws their positions with
a global RNG per cell). Scoring is the same teacher-forced exact match, with the same KV reuse.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from longva.errors import InputError
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid, insert_index
from longva.niah.results import cell_key
from longva.niah.sequence import Run, normalize
from longva.niah.sources import EmbedFn, Source, TokenSource, text_source

NEEDLE_FORMAT = "\nThe special magic Singapore number is: {}.\n"
DISTRACTOR_FORMATS = [
    f"\nThe special magic {c} number is: {{}}.\n"
    for c in ("New York", "London", "Paris", "Tokyo", "Beijing", "Berlin")
]
PREFIX = "This is a very long story book: <book>"
QUESTION = "</book>.\n Based on the content of the book, Question: What is the special magic Singapore number? Answer: The special magic Singapore number is: "
HAY = "hay"


def safe_tokenize(tokenizer, text: str) -> list[int]:
    """encode() without a leading BOS (the original's safe_tokenize)."""
    ids = list(tokenizer.encode(text))
    bos = getattr(tokenizer, "bos_token_id", None)
    return ids[1:] if bos is not None and ids and ids[0] == bos else ids


_SUBJECTS = [
    "The river",
    "An old map",
    "The engineer",
    "A quiet village",
    "The committee",
    "Her notebook",
    "The last train",
    "A small bakery",
]
_VERBS = [
    "described",
    "remembered",
    "ignored",
    "repaired",
    "measured",
    "painted",
    "followed",
    "questioned",
]
_OBJECTS = [
    "the northern hills",
    "a forgotten letter",
    "the spring festival",
    "every wooden bridge",
    "the harbour lights",
    "a long winter",
    "the market square",
    "an unfinished song",
]


def synthetic_filler(n_sentences: int, seed: int = 0) -> str:
    """Essay-like filler text: varied sentences from a small grammar, deterministic by seed."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, 8, size=(n_sentences, 3))
    return " ".join(f"{_SUBJECTS[a]} {_VERBS[b]} {_OBJECTS[c]}." for a, b, c in picks)


def load_filler(spec: str | os.PathLike, tokenizer, min_tokens: int, seed: int = 0) -> list[int]:
    """Haystack token ids (>= min_tokens): 'synthetic', a .txt file or a folder of .txt files
    (repeated until long enough, as the original repeats Paul Graham's essays)."""
    if str(spec) == "synthetic":
        ids: list[int] = []
        while len(ids) < min_tokens:
            ids += safe_tokenize(
                tokenizer,
                " " + synthetic_filler(max(64, (min_tokens - len(ids)) // 6), seed + len(ids)),
            )
        return ids
    path = Path(spec)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(
            f"text haystack {str(spec)!r} is not 'synthetic', a .txt file or a folder of .txt files"
        )
    text = "".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
    if not text.strip():
        raise InputError(f"text haystack {str(spec)!r} is empty")
    ids = safe_tokenize(tokenizer, text)
    return (ids * (min_tokens // len(ids) + 1))[: max(min_tokens, len(ids))]


def period_ids(tokenizer, vocab_size: int) -> set[int]:
    """Ids of tokens whose text ends with '.' (sentence ends, whatever the tokenizer)."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    return {i for i, p in enumerate(pieces) if isinstance(p, str) and p.endswith(".")}


def snap_after_period(position: int, limit: int, periods: np.ndarray) -> int:
    """Just after the first period token at index >= position (< limit); else position."""
    j = int(np.searchsorted(periods, position))
    return int(periods[j]) + 1 if j < len(periods) and periods[j] < limit else position


@dataclass(frozen=True)
class Passkey:
    number: int
    needle_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]


def make_passkeys(tokenizer, samples: int, digits: int = 7, seed: int = 24242424) -> list[Passkey]:
    rng = np.random.default_rng(seed)
    keys = []
    for _ in range(samples):
        n = int(rng.integers(0, 10**digits))
        keys.append(
            Passkey(
                n,
                tuple(safe_tokenize(tokenizer, NEEDLE_FORMAT.format(n))),
                tuple(safe_tokenize(tokenizer, str(n))),
            )
        )
    return keys


def text_cells(
    grid: Grid,
    keys: Sequence[Passkey],
    periods: np.ndarray,
    prefix_len: int,
    question_len: int,
    distractors: Sequence[tuple[float, int]] = (),
) -> list[Cell]:
    """All (sample, token limit, depth) cells; distractors: (haystack fraction, source length)."""
    cells = []
    for limit, depth in grid.points():
        s = 0 if depth == 0 else snap_after_period(insert_index(depth, limit), limit, periods)
        inserts = [(s, 0, "needle")]  # (haystack position, order at ties, source)
        for j, (frac, _) in enumerate(distractors):
            inserts.append(
                (
                    snap_after_period(insert_index(frac, limit), limit, periods),
                    1 + j,
                    f"distractor:{j}",
                )
            )
        for n, key in enumerate(keys):
            runs, pos = [Run("prefix", 0, prefix_len)], 0
            for at, _, name in sorted(inserts):
                runs.append(Run(HAY, pos, at))
                length = (
                    len(key.needle_ids)
                    if name == "needle"
                    else distractors[int(name.split(":")[1])][1]
                )
                runs.append(Run(f"needle:{n}" if name == "needle" else name, 0, length))
                pos = at
            runs += [Run(HAY, pos, limit), Run("question", 0, question_len)]
            meta = {"needle": n, "passkey": key.number, "tokens": limit, "depth": depth}
            cells.append(
                Cell(
                    cell_key(n, limit, depth),
                    normalize(runs),
                    key.answer_ids,
                    f"answer:{n}",
                    str(key.number),
                    False,
                    meta,
                )
            )
    return cells


def text_sources(
    embed_fn: EmbedFn,
    hay_ids: Sequence[int],
    prefix_ids,
    question_ids,
    keys: Sequence[Passkey],
    distractor_ids: Sequence[Sequence[int]] = (),
) -> dict[str, Source]:
    sources: dict[str, Source] = {
        HAY: TokenSource(hay_ids, embed_fn),  # embedded chunk by chunk, never whole
        "prefix": text_source(prefix_ids, embed_fn),
        "question": text_source(question_ids, embed_fn),
    }
    for n, key in enumerate(keys):
        sources[f"needle:{n}"] = text_source(key.needle_ids, embed_fn)
        sources[f"answer:{n}"] = text_source(key.answer_ids, embed_fn)
    for j, ids in enumerate(distractor_ids):
        sources[f"distractor:{j}"] = text_source(ids, embed_fn)
    return sources


def make_distractors(
    tokenizer, count: int, digits: int = 7, seed: int = 24242424
) -> tuple[list[float], list[list[int]]]:
    """(haystack fractions, token ids) of `count` distractor sentences."""
    rng = np.random.default_rng([seed, 1])
    fracs = rng.uniform(0, 1, count).round(4).tolist()
    ids = [
        safe_tokenize(
            tokenizer,
            DISTRACTOR_FORMATS[j % len(DISTRACTOR_FORMATS)].format(
                int(rng.integers(0, 10**digits))
            ),
        )
        for j in range(count)
    ]
    return fracs, ids


def lm_embed_fn(lm: torch.nn.Module) -> EmbedFn:
    emb = lm.get_input_embeddings()
    device = emb.weight.device
    return lambda ids: emb(ids.to(device))


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
    dtype: str | None = None
    device: str = "cpu"
    max_cells: int | None = None


def run_text_niah(opts: TextNIAHOptions) -> dict | None:
    from longva.niah.distributed import init_from_env
    from longva.niah.evaluator import MODES, GenerateConfig
    from longva.niah.grid import make_grid
    from longva.niah.models import load_text_model, resolve_dtype
    from longva.niah.results import TEXT
    from longva.niah.runner import RunPlan, run_plan
    from longva.niah.runtime import resolve_device as _device

    if opts.mode not in MODES:
        raise InputError(f"--mode {opts.mode!r} is unknown; expected one of {', '.join(MODES)}")
    if opts.samples < 1 or opts.digits < 1 or opts.distractors < 0:
        raise InputError(
            f"--samples {opts.samples}, --digits {opts.digits}, --distractors {opts.distractors}: expected >= 1, >= 1, >= 0"
        )
    grid = make_grid(opts.lengths, opts.depths, opts.preset, "--lengths")
    init_from_env()
    device = _device(opts.device)
    lm, tokenizer = load_text_model(opts.model, resolve_dtype(opts.dtype, device), device)
    if opts.rope_theta is not None:
        from longva.train.rope import set_rope_theta

        set_rope_theta(lm, opts.rope_theta)
    cells, sources = _text_inputs(opts, grid, lm, tokenizer)
    eos = getattr(tokenizer, "eos_token_id", None)
    gen = GenerateConfig(
        lm_embed_fn(lm), tokenizer.decode, (eos,) if eos is not None else (), opts.max_new_tokens
    )
    settings = {
        "benchmark": "text-niah",
        "model": _model_id(opts.model),
        "haystack": str(opts.haystack),
        "samples": opts.samples,
        "digits": opts.digits,
        "distractors": opts.distractors,
        "seed": opts.seed,
        "mode": opts.mode,
        "rope_theta": opts.rope_theta,
    }
    plan = RunPlan(
        lm,
        sources,
        cells,
        grid,
        opts.samples,
        TEXT,
        opts.out,
        settings,
        opts.mode,
        opts.chunk_size,
        gen if opts.mode == "generate" else None,
        tokenizer.decode,
        opts.max_cells,
    )
    return run_plan(plan, "text NIAH")


def _text_inputs(
    opts: TextNIAHOptions, grid: Grid, lm, tokenizer
) -> tuple[list[Cell], dict[str, Source]]:
    hay = load_filler(opts.haystack, tokenizer, grid.max_length, seed=opts.seed)
    vocab = max(len(tokenizer), int(max(hay)) + 1)
    dots = period_ids(tokenizer, vocab)
    periods = np.array(
        [i for i, t in enumerate(hay[: grid.max_length]) if t in dots], dtype=np.int64
    )
    keys = make_passkeys(tokenizer, opts.samples, opts.digits, opts.seed)
    fracs, distractor_ids = make_distractors(tokenizer, opts.distractors, opts.digits, opts.seed)
    prefix, question = list(tokenizer.encode(PREFIX)), safe_tokenize(tokenizer, QUESTION)
    cells = text_cells(
        grid,
        keys,
        periods,
        len(prefix),
        len(question),
        [(f, len(i)) for f, i in zip(fracs, distractor_ids, strict=True)],
    )
    sources = text_sources(lm_embed_fn(lm), hay, prefix, question, keys, distractor_ids)
    return cells, sources


def _model_id(model_dir) -> str:
    from longva.niah.embedding_cache import weights_fingerprint

    return weights_fingerprint(model_dir)
