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
   model-specific logit processing) sees A positions instead of L. In `exact` mode the last
   causal prefill chunk and the answer span go through the LM in one call (`score_span`): a
   V-NIAH cell then costs one forward, not two.

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
from longva.model.prefix_lm import prefix_lm_mask
from longva.niah.cpu_attention import lower_right_causal
from longva.niah.scoring import generated_correct
from longva.niah.sequence import (
    EmbedFn,
    Run,
    Runs,
    Source,
    common_prefix_len,
    dfs_order,
    materialize,
    normalize,
    slice_runs,
    total_len,
    truncate,
)
from longva.niah.visual_attention import VisualFn, prefill_spans, reusable_prefix, visual_region

MODES = ("exact", "generate")
# runs -> position ids of every token: (1, L), or (P, 1, L) for M-RoPE (P = 3); None = 0..L-1
PositionFn = Callable[[Runs], torch.Tensor]


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


@dataclass
class _Prefill:
    """What a cell's prompt needs after the cache is cropped: the spans to feed, and its visual rows."""

    keep: int  # cached tokens reused
    spans: list[tuple[int, int, bool]]  # (a, b, masked) pieces of [keep, n)
    visual: torch.Tensor | None  # prefix-LM models: the visual rows of the cell
    region: tuple[int, int] | None  # their [first, end) region


class PrefixCache:
    """One KV cache whose contents are the tokens named by `self.runs` (plus generated ones).

    position_fn: position ids computed from a cell's runs (M-RoPE); a cached prefix is reused
    only as far as its positions agree with the new cell's too (they do whenever positions are
    a function of the prefix, as with every model here; the check makes it a guarantee).
    """

    def __init__(
        self,
        lm: torch.nn.Module,
        sources: Mapping[str, Source],
        chunk_size: int = 1024,
        position_fn: PositionFn | None = None,
        visual_fn: VisualFn | None = None,
    ):
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
        self.position_fn = position_fn
        self._positions: tuple[Runs, torch.Tensor] | None = None  # last runs -> (P, 1, L)
        self.cached_positions: torch.Tensor | None = None  # (P, 1, length) of the cached tokens
        self.next_position: torch.Tensor | None = None  # (P, 1, 1) of the next appended token
        self.visual_fn = visual_fn  # prefix-LM models: visual rows of a cell (`visual_attention.py`)
        self.region = None  # the visual region of the cached cell

    def ensure(self, runs: Runs, n: int) -> int:
        """Make the cache hold exactly runs[:n]; returns the number of tokens computed."""
        plan = self._plan(runs, n)
        self._prefill(runs, plan, plan.spans, n)
        return n - plan.keep

    def score_span(self, runs: Runs, a: int, b: int) -> tuple[int, torch.Tensor]:
        """ensure(runs, a) then logits(runs, a, b), the last causal chunk and [a, b) in one LM call
        (that chunk grows by the answer's few tokens past `chunk_size`).

        Returns (tokens prefilled before a, logits (b - a, V) fp32)."""
        plan = self._plan(runs, a)
        if not plan.spans or plan.spans[-1][2]:  # nothing to prefill, or it ends in a masked visual region
            self._prefill(runs, plan, plan.spans, a)
            return a - plan.keep, self.logits(runs, a, b)
        start = plan.spans[-1][0]
        self._prefill(runs, plan, plan.spans[:-1], start)
        return a - plan.keep, self.logits(runs, start, b, keep_last=b - a)

    def _plan(self, runs: Runs, n: int) -> _Prefill:
        """Crop the cache to what runs[:n] can reuse; what is left to prefill."""
        keep = min(common_prefix_len(self.runs, runs), n)
        if self.position_fn is not None and keep > 0:
            keep = min(keep, self._agreeing_prefix(runs, keep))
        visual = self.visual_fn(runs) if self.visual_fn is not None else None
        region = visual_region(visual) if visual is not None else None
        keep = reusable_prefix(keep, region, self.region)
        self._crop(keep)
        return _Prefill(keep, prefill_spans(keep, n, region, self.chunk_size), visual, region)

    def _prefill(self, runs: Runs, plan: _Prefill, spans: list[tuple[int, int, bool]], n: int) -> None:
        """Feed `spans` of `plan` through the decoder body; the cache then holds runs[:n]."""
        for a, b, masked in spans:
            inputs = self._inputs(runs, a, b)
            if masked:  # the visual region in one piece: its tokens see each other both ways
                inputs["attention_mask"] = prefix_lm_mask(plan.visual[None, :b].to(self.device), None, self.dtype, a)
            self.body(**inputs, **cache_kwargs(self.body, self.cache))
        self.runs, self.length, self.region = truncate(runs, n), n, plan.region
        self._track_positions(runs, n)

    def logits(self, runs: Runs, a: int, b: int, keep_last: int | None = None) -> torch.Tensor:
        """Feed tokens [a, b) (the cache must hold runs[:a]); the logits (fp32) of the last
        `keep_last` of them (default: all b - a)."""
        assert self.length == a and total_len(self.runs) == a, (
            "cache does not end where the span starts"
        )
        inputs = self._inputs(runs, a, b)
        kept = b - a if keep_last is None else keep_last
        out = self.lm(**inputs, logits_to_keep=kept, **cache_kwargs(self.lm, self.cache))
        self.runs, self.length = truncate(runs, b), b
        self.next_position = inputs["position_ids"][..., -1:] + 1
        self._track_positions(runs, b)
        return out.logits[0].float()

    def append(self, embeds: torch.Tensor) -> torch.Tensor:
        """Feed extra embeddings (generated tokens, (n, D)); logits of the last one (V,).

        Generated tokens are text: their positions continue from the last fed token's, +1 on
        every M-RoPE axis, as transformers' `generate` does (even where a video's t ids ran
        past the text that follows it, as Qwen2.5-VL's time-scaled ones can)."""
        n = embeds.shape[0]
        pos = self.next_position + torch.arange(n, device=self.device)  # (1, n) or (P, 1, n)
        self.next_position = pos[..., -1:] + 1
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
        if self.cached_positions is not None:
            self.cached_positions = self.cached_positions[..., :keep]
        self.length = keep
        self.runs = truncate(self.runs, keep)

    def _inputs(self, runs: Runs, a: int, b: int) -> dict:
        x = materialize(self.sources, slice_runs(runs, a, b), self.dtype, self.device)  # (b - a, D)
        if self.position_fn is None:
            pos = torch.arange(a, b, device=self.device)[None]  # (1, b - a)
        else:
            pos = self.positions(runs)[..., a:b].to(self.device)  # (P, 1, b - a)
        return {"inputs_embeds": x[None], "position_ids": pos, "use_cache": True}

    def positions(self, runs: Runs) -> torch.Tensor:
        """(P, 1, L) position ids of `runs` (the last cell's are kept: a cell asks twice)."""
        if self._positions is None or self._positions[0] != runs:
            self._positions = (runs, self.position_fn(runs))
        return self._positions[1]

    def _track_positions(self, runs: Runs, n: int) -> None:
        if self.position_fn is not None:
            self.cached_positions = self.positions(runs)[..., :n]

    def _agreeing_prefix(self, runs: Runs, keep: int) -> int:
        """How many of the first `keep` cached tokens were computed at the new cell's positions."""
        old = self.cached_positions[..., :keep]
        new = self.positions(runs)[..., :keep]
        differ = (old != new).flatten(0, -2).any(0).nonzero()  # token indices that disagree
        return keep if differ.numel() == 0 else int(differ[0])


def score_exact(pc: PrefixCache, cell: Cell, keep_logits: bool = False) -> CellResult:
    t0 = time.perf_counter()
    full, p, a = cell.full_runs(), cell.prompt_len, len(cell.answer_ids)
    computed, logits = pc.score_span(full, p - 1, p + a - 1)  # (A, V): position i predicts answer token i
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
    position_fn: PositionFn | None = None,
    visual_fn: VisualFn | None = None,
) -> list[CellResult]:
    """Score `cells` in the given order (use `order_cells` first for KV reuse).

    position_fn: position ids from a cell's runs (M-RoPE models); None = 0..L-1.
    visual_fn: visual rows of a cell's runs for prefix-LM models (`visual_attention.py`); None = causal.

    fast_cpu_attention: attend chunk-vs-cache without a materialised mask (`cpu_attention.py`;
    same numbers, ~2x faster prefill at long context on CPU). Despite the name it covers CUDA
    too (fp16/bf16 through the flash kernel); False keeps transformers' masked attention.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    if mode == "generate" and generate is None:
        raise ValueError("generate mode needs a GenerateConfig")
    pc = PrefixCache(lm, sources, chunk_size, position_fn, visual_fn)
    results = []
    fast = fast_cpu_attention and visual_fn is None  # the fast path has no mask: prefix-LM needs one
    with torch.inference_mode(), lower_right_causal(lm, fast):
        for cell in cells:
            if mode == "exact":
                result = score_exact(pc, cell, keep_logits)
            else:
                result = score_generate(pc, cell, generate)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
