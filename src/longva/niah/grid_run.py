"""One NIAH grid run: resume, trie order, rank split, progress bar, per-cell records, summary.

Shared by V-NIAH and text NIAH: they differ only in how cells and sources are built. Under
torchrun each rank takes a contiguous slice of the trie-ordered unfinished cells, balanced by
the tokens each would prefill (a round-robin split would destroy the KV sharing), appends to its
own JSONL, and rank 0 writes the summary after a barrier. Works with gloo (CPU) and nccl.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import TextColumn

from longva.niah.evaluator import (
    Cell,
    CellResult,
    GenerateConfig,
    PositionFn,
    evaluate,
    order_cells,
)
from longva.niah.grid import Grid
from longva.niah.layout import Layout
from longva.niah.results import ResultStore, cell_key
from longva.niah.sequence import Source, new_tokens
from longva.niah.visual_attention import VisualFn
from longva.utils.distributed import barrier, world
from longva.utils.progress import make_progress


@dataclass(kw_only=True)
class RunPlan:
    """Everything a grid run needs (keywords only: 16 fields, most optional)."""

    lm: torch.nn.Module
    sources: Mapping[str, Source]
    cells: Sequence[Cell]  # every cell of the grid; keys are `results.cell_key`
    grid: Grid
    n_needles: int
    layout: Layout
    out_dir: Path
    settings: dict  # what the results depend on (run.json)
    mode: str = "exact"
    chunk_size: int = 1024
    generate: GenerateConfig | None = None
    decode: Callable[[list[int]], str] | None = None  # for readable "pred" fields
    max_cells: int | None = None  # stop after this many cells (tests; a budgeted partial run)
    position_fn: PositionFn | None = None  # M-RoPE models: position ids from a cell's runs
    summarize: Callable[[ResultStore], dict] | None = None  # default: ResultStore.summarize
    visual_fn: VisualFn | None = None  # prefix-LM models: visual rows of a cell (`visual_attention.py`)


def record(result: CellResult, mode: str, decode) -> dict:
    cell = result.cell
    rec = dict(cell.meta)
    rec.update(
        correct=bool(result.correct),
        pred=result.text
        if result.text is not None
        else (decode(result.pred_ids) if decode else None),
        pred_ids=result.pred_ids,
        answer=cell.answer_text,
        seq_len=cell.prompt_len + len(cell.answer_ids),
        new_tokens=result.new_tokens,
        seconds=round(result.seconds, 4),
        mode=mode,
    )
    return rec


def partition(costs: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Split indices 0..len(costs) into `parts` contiguous [a, b) ranges of about equal cost.

    Boundary j is where the running cost first reaches j/parts of the total; empty ranges are
    allowed (more ranks than cells).
    """
    total = sum(max(c, 0) for c in costs) or 1
    bounds, running, j = [0], 0, 1
    for i, c in enumerate(costs):
        running += max(c, 0)
        while j < parts and running >= total * j / parts:
            bounds.append(i + 1)
            j += 1
    while len(bounds) < parts:
        bounds.append(len(costs))
    bounds.append(len(costs))
    return [(bounds[r], bounds[r + 1]) for r in range(parts)]


def my_cells(cells: Sequence[Cell], done: set, rank: int, world_size: int) -> list[Cell]:
    """This rank's contiguous slice of the unfinished cells in trie order."""
    todo = order_cells([c for c in cells if cell_key(*c.key) not in done])
    costs = new_tokens([c.full_runs() for c in todo], [c.prompt_len - 1 for c in todo])
    a, b = partition(costs, world_size)[rank]
    return todo[a:b]


def run_plan(plan: RunPlan, progress_label: str = "NIAH") -> dict | None:
    """Evaluate the unfinished cells; rank 0 returns the summary (others None)."""
    rank, world_size = world()
    store = ResultStore(plan.out_dir, plan.layout, rank, world_size)
    if rank == 0:
        store.check_run(plan.settings)
    barrier()
    done = store.finished()
    barrier()  # everyone has read the finished set before anyone appends to it
    mine = my_cells(plan.cells, done, rank, world_size)
    if plan.max_cells is not None:
        mine = mine[: plan.max_cells]
    _evaluate_with_progress(plan, store, mine, progress_label)
    barrier()
    if rank != 0:
        return None
    if plan.summarize is not None:
        summary = plan.summarize(store)
    else:
        summary = store.summarize(plan.grid, plan.n_needles)
    summary["skipped_finished"] = len(done)
    return summary


def _evaluate_with_progress(
    plan: RunPlan, store: ResultStore, cells: list[Cell], label: str
) -> None:
    tokens, t0 = 0, time.perf_counter()
    with make_progress(TextColumn("{task.fields[rate]}")) as progress:
        task = progress.add_task(label, total=len(cells), rate="")

        def on_result(result: CellResult) -> None:
            nonlocal tokens
            store.append(record(result, plan.mode, plan.decode))
            tokens += result.new_tokens
            rate = tokens / max(time.perf_counter() - t0, 1e-9)
            progress.update(task, advance=1, rate=f"{rate:,.0f} tok/s")

        evaluate(
            plan.lm,
            plan.sources,
            cells,
            plan.mode,
            plan.chunk_size,
            plan.generate,
            on_result,
            position_fn=plan.position_fn,
            visual_fn=plan.visual_fn,
        )
