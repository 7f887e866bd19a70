"""Text NIAH: a needle sentence in filler text, for an LM alone; THE text-NIAH cell builder.

Used by `longva niah-text` (passkey retrieval, as LongVA's `text_extend/eval_text_niah.py`) and
by the toy recipe (a colour word in filler words). Per cell (needle n, token limit T, depth d),
with the haystack cut to its first T tokens:

    prefix + hay[0:s] + needle_n + hay[s:T] + question + post + answer_n

`s = int(T*d)`, moved to just after the next "." token when sentence ends are given (the
original hard-coded Llama-2's '.' ids; here: every token whose text ends with "."); depth 0
means the very start. Optional distractors (other cities, their own numbers) sit at fixed
fractions of the haystack drawn from the seed, so every cell of a sample sees the same relative
layout and cells still share prefixes (the original re-draws their positions with a global RNG
per cell). Passkeys: prefix = "This is a very long story book: <book>", needle = "\nThe special
magic Singapore number is: {N}.\n", question = "</book>.\n Based on the content of the book,
Question: What is the special magic Singapore number? Answer: The special magic Singapore number
is: ", answer = the digits of N (a random `digits`-digit number per sample), no post. Scoring is
the same teacher-forced exact match as V-NIAH, with the same KV reuse.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from longva.errors import InputError
from longva.niah.evaluator import Cell
from longva.niah.grid import Grid, insert_index
from longva.niah.results import cell_key
from longva.niah.sequence import EmbedFn, Run, Source, TokenSource, interleave, normalize, text_source
from longva.niah.tasks.prompts import safe_tokenize
from longva.utils.text_input import read_text

NEEDLE_FORMAT = "\nThe special magic Singapore number is: {}.\n"
DISTRACTOR_FORMATS = [
    f"\nThe special magic {c} number is: {{}}.\n"
    for c in ("New York", "London", "Paris", "Tokyo", "Beijing", "Berlin")
]
PREFIX = "This is a very long story book: <book>"
QUESTION = (
    "</book>.\n Based on the content of the book, Question: What is the special magic Singapore number?"
    " Answer: The special magic Singapore number is: "
)
HAY, PREFIX_SOURCE, QUESTION_SOURCE, POST_SOURCE = "hay", "prefix", "question", "post"


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
    text = read_haystack_text(spec)
    ids = safe_tokenize(tokenizer, text)
    return (ids * (min_tokens // len(ids) + 1))[: max(min_tokens, len(ids))]


def read_haystack_text(spec: str | os.PathLike) -> str:
    """The text of a .txt haystack (a file or a folder of .txt files), strictly UTF-8, not empty."""
    path = Path(spec)
    what = "--haystack"
    if not path.exists():
        raise InputError(f"{what} {str(spec)!r} does not exist; expected 'synthetic', a .txt file or a folder of them")
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files:
        raise InputError(
            f"{what} {str(spec)!r} holds no .txt file; expected 'synthetic', a .txt file or a folder of them"
        )
    text = "".join(read_text(f, what, "UTF-8 text (a .txt file)") for f in files)  # a video is refused here
    if not text.strip():
        raise InputError(f"{what} {str(spec)!r} is empty; expected text to hide the passkeys in")
    return text


def period_ids(tokenizer, vocab_size: int) -> set[int]:
    """Ids of tokens whose text ends with '.' (sentence ends, whatever the tokenizer)."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    return {i for i, p in enumerate(pieces) if isinstance(p, str) and p.endswith(".")}


def snap_after_period(position: int, limit: int, periods: np.ndarray) -> int:
    """Just after the first period token at index >= position (< limit); else position."""
    j = int(np.searchsorted(periods, position))
    return int(periods[j]) + 1 if j < len(periods) and periods[j] < limit else position


@dataclass(frozen=True)
class TextNeedle:
    """What a cell hides and what answers it; `meta` goes into the cell's record."""

    needle_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    answer_text: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Passkey:
    number: int
    needle_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]

    @property
    def answer_text(self) -> str:
        return str(self.number)

    @property
    def meta(self) -> dict:
        return {"passkey": self.number}


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
    needles: Sequence[TextNeedle | Passkey],
    periods: np.ndarray | None,
    prefix_len: int,
    question_len: int,
    distractors: Sequence[tuple[float, int]] = (),
    post_len: int = 0,
) -> list[Cell]:
    """All (needle, token limit, depth) cells, in the original's loop order.

    periods: sentence-end positions of the haystack (inserts go just after one), or None;
    distractors: (haystack fraction, source length).
    """
    periods = np.array([], dtype=np.int64) if periods is None else periods
    cells = []
    for limit, depth in grid.points():
        s = 0 if depth == 0 else snap_after_period(insert_index(depth, limit), limit, periods)
        fixed = [
            (snap_after_period(insert_index(frac, limit), limit, periods), 1 + j, f"distractor:{j}", n)
            for j, (frac, n) in enumerate(distractors)
        ]
        for n, needle in enumerate(needles):
            inserts = sorted([(s, 0, f"needle:{n}", len(needle.needle_ids)), *fixed])  # ties: needle first
            runs = [
                Run(PREFIX_SOURCE, 0, prefix_len),
                *interleave(HAY, [(at, Run(name, 0, size)) for at, _, name, size in inserts], limit),
                Run(QUESTION_SOURCE, 0, question_len),
                Run(POST_SOURCE, 0, post_len),
            ]
            meta = {"needle": n, **needle.meta, "tokens": limit, "depth": depth}
            cells.append(
                Cell(
                    cell_key(n, limit, depth),
                    normalize(runs),
                    needle.answer_ids,
                    f"answer:{n}",
                    needle.answer_text,
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
    needles: Sequence[TextNeedle | Passkey],
    distractor_ids: Sequence[Sequence[int]] = (),
    post_ids: Sequence[int] = (),
) -> dict[str, Source]:
    """Name -> source for `text_cells` (the haystack is embedded chunk by chunk, never whole)."""
    sources: dict[str, Source] = {
        HAY: TokenSource(hay_ids, embed_fn),
        PREFIX_SOURCE: text_source(prefix_ids, embed_fn),
        QUESTION_SOURCE: text_source(question_ids, embed_fn),
    }
    if len(post_ids):
        sources[POST_SOURCE] = text_source(post_ids, embed_fn)
    for n, needle in enumerate(needles):
        sources[f"needle:{n}"] = text_source(needle.needle_ids, embed_fn)
        sources[f"answer:{n}"] = text_source(needle.answer_ids, embed_fn)
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
