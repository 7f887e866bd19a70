"""NIAH scoring with one KV cache walked depth-first through the trie of cells.

The original scores a cell with one forward over the whole sequence and full-vocabulary logits
(3001 frames: ~432K positions x 152K vocab in fp32). Here, per cell:
1. the cache is cropped back to the longest prefix the cell shares with what it holds (cells are
   visited in trie order, see `sequence.py`), never past the first position whose output the cell
   needs;
2. the rest of the prompt is prefilled through the decoder body only (`lm.get_decoder()`), in
   chunks of `chunk_size` tokens, so peak memory is weights + KV cache + one chunk (on CPU and
   on CUDA's flash kernel the chunk attends to the cache without a materialised mask, see
   `cpu_attention.py`);
3. only the answer span goes through the full LM, with `logits_to_keep`, so the LM head (and any
   model-specific logit processing) sees A positions instead of L.

`exact` (the original's metric): with the answer teacher-forced, the argmax at every answer
position must be the gold token. `generate`: greedy decoding from the prompt, then a normalised
string match (`scoring.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from longva.model.compat import cache_kwargs, crop_cache, new_cache
from longva.niah.cpu_attention import lower_right_causal
from longva.niah.scoring import generated_correct
from longva.niah.sequence import (
    Run,
    Runs,
    common_prefix_len,
    dfs_order,
    normalize,
    slice_runs,
    total_len,
    truncate,
)
from longva.niah.sources import EmbedFn, Source, materialize

MODES = ("exact", "generate")


@dataclass(frozen=True)
class Cell:
    key: tuple  # identity in the results, e.g. (needle, frames, depth)
    runs: Runs  # the prompt: everything before the answer, normalised
    answer_ids: tuple[int, ...]
    answer_source: str  # source holding the answer embeddings (teacher forcing)
    answer_text: str = ""
    is_option: bool = False
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def prompt_len(self) -> int:
        return total_len(self.runs)

    def full_runs(self) -> Runs:
        """Prompt + answer: the sequence `exact` mode feeds."""
        return normalize((*self.runs, Run(self.answer_source, 0, len(self.answer_ids))))


@dataclass
class CellResult:
    cell: Cell
    correct: bool
    pred_ids: list[int]
    new_tokens: int  # tokens prefilled for this cell (what KV reuse saves shows here)
    seconds: float
    text: str | None = None  # generate mode
    logits: torch.Tensor | None = None  # (A, V), only with keep_logits


def order_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Cells in trie depth-first order, so consecutive cells share the longest prefixes."""
    full = [c.full_runs() for c in cells]
    return [cells[i] for i in dfs_order(full)]


class PrefixCache:
    """One KV cache whose contents are the tokens named by `self.runs` (plus generated ones)."""

    def __init__(self, lm: torch.nn.Module, sources: Mapping[str, Source], chunk_size: int = 1024):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.lm = lm
        self.body = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
        self.sources = sources
        self.chunk_size = chunk_size
        param = next(lm.parameters())
        self.dtype, self.device = param.dtype, param.device
        self.cache = new_cache(lm.config)
        self.runs: Runs = ()
        self.length = 0  # tokens in the cache (> total_len(runs) after generation)

    def ensure(self, runs: Runs, n: int) -> int:
        """Make the cache hold exactly runs[:n]; returns the number of tokens computed."""
        keep = min(common_prefix_len(self.runs, runs), n)
        self._crop(keep)
        for a in range(keep, n, self.chunk_size):
            b = min(n, a + self.chunk_size)
            self.body(**self._inputs(runs, a, b), **cache_kwargs(self.body, self.cache))
        self.runs, self.length = truncate(runs, n), n
        return n - keep

    def logits(self, runs: Runs, a: int, b: int) -> torch.Tensor:
        """Feed tokens [a, b) (the cache must hold runs[:a]); their logits (b - a, V) in fp32."""
        assert self.length == a and total_len(self.runs) == a, (
            "cache does not end where the span starts"
        )
        out = self.lm(
            **self._inputs(runs, a, b), logits_to_keep=b - a, **cache_kwargs(self.lm, self.cache)
        )
        self.runs, self.length = truncate(runs, b), b
        return out.logits[0].float()

    def append(self, embeds: torch.Tensor) -> torch.Tensor:
        """Feed extra embeddings (generated tokens, (n, D)); logits of the last one (V,)."""
        n = embeds.shape[0]
        pos = torch.arange(self.length, self.length + n, device=self.device)[None]
        x = embeds.to(device=self.device, dtype=self.dtype)[None]
        out = self.lm(
            inputs_embeds=x,
            position_ids=pos,
            use_cache=True,
            logits_to_keep=1,
            **cache_kwargs(self.lm, self.cache),
        )
        self.length += n
        return out.logits[0, -1].float()

    def _crop(self, keep: int) -> None:
        if keep == 0:
            self.cache = new_cache(self.lm.config)  # cheaper and safer than cropping to nothing
        elif keep < self.length:
            crop_cache(self.cache, keep)
        self.length = keep
        self.runs = truncate(self.runs, keep)

    def _inputs(self, runs: Runs, a: int, b: int) -> dict:
        x = materialize(self.sources, slice_runs(runs, a, b), self.dtype, self.device)  # (b - a, D)
        pos = torch.arange(a, b, device=self.device)[None]  # (1, b - a)
        return {"inputs_embeds": x[None], "position_ids": pos, "use_cache": True}


def score_exact(pc: PrefixCache, cell: Cell, keep_logits: bool = False) -> CellResult:
    t0 = time.perf_counter()
    full, p, a = cell.full_runs(), cell.prompt_len, len(cell.answer_ids)
    computed = pc.ensure(full, p - 1)
    logits = pc.logits(full, p - 1, p + a - 1)  # (A, V): position i predicts answer token i
    pred = logits.argmax(-1).tolist()
    return CellResult(
        cell,
        pred == list(cell.answer_ids),
        pred,
        computed + a,
        time.perf_counter() - t0,
        logits=logits if keep_logits else None,
    )


@dataclass
class GenerateConfig:
    embed_fn: EmbedFn  # token ids (n,) -> (n, D)
    decode: Callable[[list[int]], str]
    stop_ids: tuple[int, ...] = ()
    max_new_tokens: int = 16


def score_generate(pc: PrefixCache, cell: Cell, gen: GenerateConfig) -> CellResult:
    t0 = time.perf_counter()
    p = cell.prompt_len
    computed = pc.ensure(cell.runs, p - 1)
    next_logits = pc.logits(cell.runs, p - 1, p)[-1]  # (V,)
    out: list[int] = []
    for _ in range(gen.max_new_tokens):
        token = int(next_logits.argmax())
        if token in gen.stop_ids:
            break
        out.append(token)
        if len(out) == gen.max_new_tokens:
            break
        next_logits = pc.append(gen.embed_fn(torch.tensor([token], device=pc.device)))
    text = gen.decode(out)
    ok = generated_correct(text, cell.answer_text, cell.is_option)
    return CellResult(cell, ok, out, computed + 1 + len(out), time.perf_counter() - t0, text=text)


def evaluate(
    lm: torch.nn.Module,
    sources: Mapping[str, Source],
    cells: Sequence[Cell],
    mode: str = "exact",
    chunk_size: int = 1024,
    generate: GenerateConfig | None = None,
    on_result: Callable[[CellResult], None] | None = None,
    keep_logits: bool = False,
    fast_cpu_attention: bool = True,
) -> list[CellResult]:
    """Score `cells` in the given order (use `order_cells` first for KV reuse).

    fast_cpu_attention: attend chunk-vs-cache without a materialised mask (`cpu_attention.py`;
    same numbers, ~2x faster prefill at long context on CPU). Despite the name it covers CUDA
    too (fp16/bf16 through the flash kernel); False keeps transformers' masked attention.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    if mode == "generate" and generate is None:
        raise ValueError("generate mode needs a GenerateConfig")
    pc = PrefixCache(lm, sources, chunk_size)
    results = []
    with torch.inference_mode(), lower_right_causal(lm, fast_cpu_attention):
        for cell in cells:
            if mode == "exact":
                result = score_exact(pc, cell, keep_logits)
            else:
                result = score_generate(pc, cell, generate)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
