"""Video-MME without lmms-eval: the entry points the CLI and the ablation runner call.

    from longva.eval.videomme import available, evaluate
    if available("data/videomme"):
        results = evaluate("runs/model", "data/videomme", frames=(128,), out="runs/videomme")
        results["by_frames"]["128"]["overall"]["accuracy"]        # % (official scorer)

`evaluate` checks the data and the output folder before loading the model, answers every
(frames, question) pair not yet in `out/records.jsonl`, then writes `results.json`,
`results.md` and `accuracy_vs_frames.png` from all the records of the requested counts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from longva.errors import InputError
from longva.eval.videomme_data import available, load_questions
from longva.eval.videomme_run import RECORDS, SweepPlan, check_run_file, run_sweep, todo
from longva.eval.videomme_scoring import MAX_NEW_TOKENS
from longva.utils.io import read_jsonl

__all__ = ["available", "evaluate"]


def evaluate(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    frames: tuple[int, ...] = (8, 16, 32, 64, 128),
    out: str | os.PathLike = "runs/videomme",
    device: str = "auto",
    dtype: str = "auto",
    max_new_tokens: int = MAX_NEW_TOKENS,
    durations: tuple[str, ...] | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> dict:
    """Run (or resume) the sweep and write the report; returns the results.json object."""
    from longva.eval.videomme_report import write_report
    from longva.niah.embedding_cache import weights_fingerprint

    out, model_dir = Path(out), Path(model_dir)
    frames = tuple(sorted({int(n) for n in frames}))
    if not frames or frames[0] < 1:
        raise InputError(f"frames {frames}: expected positive frame counts, e.g. (8, 16, 32)")
    questions = load_questions(data_dir, durations, limit)
    if not model_dir.is_dir():
        raise InputError(f"--model {model_dir}: not a folder; expected a LongVA model folder")
    resolved_device, resolved_dtype = _resolve(device, dtype)
    identity = {
        "model": str(model_dir.resolve()),
        "weights": weights_fingerprint(model_dir),
        "data": str(Path(data_dir).resolve()),
        "dtype": resolved_dtype,
        "max_new_tokens": max_new_tokens,
        "prompt": "lmms-eval videomme default",
    }
    out.mkdir(parents=True, exist_ok=True)
    check_run_file(out, identity)
    plan = SweepPlan(frames, questions, out, max_new_tokens)
    pending = sum(len(qs) for _, per in todo(plan) for qs in per.values())
    if pending:
        from longva.inference.pipeline import load_pipeline

        pipe = load_pipeline(model_dir, dtype=resolved_dtype, device=resolved_device)
        _sweep_with_progress(plan, pipe, pending, progress)
    wanted = {q.question_id for q in questions}
    records = [
        r
        for r in read_jsonl(out / RECORDS)
        if r["question_id"] in wanted and int(r["frames"]) in plan.frames
    ]
    config = {
        **identity,
        "frames": list(plan.frames),
        "questions": len(questions),
        "scorer": "Video-MME official (eval_your_results.py extract_characters_regex)",
    }
    return write_report(out, _latest(records), plan.frames, config)


def _resolve(device: str, dtype: str) -> tuple[str, str]:
    from longva.utils.device import parse_dtype, resolve_device

    dev = resolve_device(device)
    resolved = parse_dtype(dtype, dev)
    return str(dev), str(resolved).removeprefix("torch.")


def _latest(records: list[dict]) -> list[dict]:
    """One record per (frames, question): the last one written wins."""
    latest = {(int(r["frames"]), r["question_id"]): r for r in records}
    return list(latest.values())


def _sweep_with_progress(plan: SweepPlan, pipe, total: int, enabled: bool | None) -> None:
    from rich.progress import TextColumn

    from longva.utils.progress import make_progress

    t0 = time.perf_counter()
    with make_progress(
        TextColumn("{task.fields[rate]}"), disable=None if enabled is None else not enabled
    ) as bar:
        task = bar.add_task("Video-MME", total=total, rate="")

        def advance(record: dict) -> None:
            done = bar.tasks[task].completed + 1
            bar.update(
                task, advance=1, rate=f"{done / max(time.perf_counter() - t0, 1e-9):.2f} q/s"
            )

        run_sweep(plan, pipe, advance)
