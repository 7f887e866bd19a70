"""The original's scoring, kept as a yardstick: one full forward per cell, full logits.

`eval_vision_niah.py` concatenates prompt + answer embeddings, runs the whole sequence without a
cache, takes the argmax of the (L, V) logits and compares positions [P-1, P+A-1) with the
answer. It is exact and simple, and costs one full sequence of compute and L x V logits per
cell (in fp32, as the original's model returns them; under bf16 weights that is the bf16 logits
plus their fp32 copy): the tests and the benchmarks check `evaluator.py` against it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import torch

from longva.niah.evaluator import Cell, CellResult, PositionFn
from longva.niah.sequence import Source, materialize


def reference_evaluate(
    lm: torch.nn.Module,
    sources: Mapping[str, Source],
    cells: Sequence[Cell],
    keep_logits: bool = False,
    on_result: Callable[[CellResult], None] | None = None,
    position_fn: PositionFn | None = None,
) -> list[CellResult]:
    """position_fn: M-RoPE position ids from a cell's runs (None: the LM's own 0..L-1)."""
    param = next(lm.parameters())
    results = []
    with torch.inference_mode():
        for cell in cells:
            t0 = time.perf_counter()
            full = cell.full_runs()
            x = materialize(sources, full, param.dtype, param.device)[None]  # (1, L, D)
            pos = None if position_fn is None else position_fn(full).to(param.device)
            pred, span = _forward(lm, x, pos, cell.prompt_len, len(cell.answer_ids), keep_logits)
            result = CellResult(
                cell,
                pred == list(cell.answer_ids),
                pred,
                x.shape[1],
                time.perf_counter() - t0,
                logits=span,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _forward(lm, x: torch.Tensor, pos, p: int, a: int, keep_logits: bool):
    """One cell; the (L, V) logits die with this frame, as in the original's eval_forward."""
    extra = {} if pos is None else {"position_ids": pos}
    logits = lm(inputs_embeds=x, use_cache=False, **extra).logits[0].float()  # (L, V) fp32
    span = logits[p - 1 : p + a - 1]  # (A, V)
    return span.argmax(-1).tolist(), span.clone() if keep_logits else None
