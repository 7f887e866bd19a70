"""CLI commands of longva.eval (registered into the main app by longva.cli).

    longva eval videomme --model DIR --data DIR [--frames 8,16,32,64,128,384] [--out DIR]
    longva eval videomme make-synthetic --out DIR [--videos-per-duration 2] [--seed 0]

`videomme` is a group whose default subcommand is `run`. Heavy imports (torch, the model)
happen inside the commands, after the data and the output folder have been checked.
"""

from __future__ import annotations

from pathlib import Path

import typer

from longva.utils.cli_groups import DefaultRunGroup

eval_app = typer.Typer(
    name="eval", help="Benchmarks on local data (Video-MME).", no_args_is_help=True
)
videomme_app = typer.Typer(
    cls=DefaultRunGroup,  # `longva eval videomme --model ...` = `... videomme run --model ...`
    name="videomme",
    help=(
        "Video-MME (w/o subtitles) on a local copy in the official layout: a frame-count sweep"
        " with accuracy overall, per duration and per task type; `make-synthetic` writes a"
        " small synthetic copy."
    ),
    no_args_is_help=True,
)


@videomme_app.command("run")
def run_cmd(
    model: Path = typer.Option(..., help="LongVA model folder"),
    data: Path = typer.Option(
        ..., help="Video-MME folder: videomme/test-*.parquet and data/<videoID>.mp4"
    ),
    frames: str = typer.Option(
        "8,16,32,64,128", help="frame counts to sweep, e.g. 8,16,32,64,128,384 (the paper's axis)"
    ),
    out: Path = typer.Option(
        Path("runs/videomme"), help="output folder (a rerun resumes from its records)"
    ),
    durations: str | None = typer.Option(None, help="only these durations, e.g. short,medium"),
    limit: int | None = typer.Option(None, help="only the first N questions (smoke runs)"),
    max_new_tokens: int = typer.Option(16, help="answer length limit (lmms-eval's videomme: 16)"),
    device: str = typer.Option("auto", help="auto (cuda when available), cpu, cuda, cuda:N"),
    dtype: str = typer.Option(
        "auto", help="auto (bf16 on GPU, fp32 on CPU), float32|fp32, bfloat16|bf16, float16|fp16"
    ),
    json_out: bool = typer.Option(False, "--json", help="print results.json instead of the table"),
) -> None:
    """Evaluate a model on Video-MME over a sweep of frame counts (resumable)."""
    import json

    from longva.errors import InputError
    from longva.eval.videomme import evaluate
    from longva.eval.videomme_data import DURATIONS
    from longva.eval.videomme_report import RESULTS_MD
    from longva.eval.videomme_run import parse_frames
    from longva.utils.paths import output_dir

    output_dir(out, "--out")  # before any video is decoded
    counts = parse_frames(frames)
    chosen = tuple(d.strip() for d in durations.split(",")) if durations else None
    if chosen and not set(chosen) <= set(DURATIONS):
        raise InputError(
            f"--durations {durations!r}: expected a comma list of {', '.join(DURATIONS)}"
        )
    if limit is not None and limit < 1 or max_new_tokens < 1:
        raise InputError(
            f"--limit {limit} / --max-new-tokens {max_new_tokens}: expected positive numbers"
        )
    results = evaluate(model, data, counts, out, device, dtype, max_new_tokens, chosen, limit)
    typer.echo(json.dumps(results) if json_out else (out / RESULTS_MD).read_text())


@videomme_app.command("make-synthetic")
def make_synthetic_cmd(
    out: Path = typer.Option(..., help="folder to write (the official layout)"),
    videos_per_duration: int = typer.Option(2, help="videos per duration (3 questions each)"),
    seed: int = typer.Option(0, help="random seed"),
) -> None:
    """Write a small synthetic Video-MME copy in the official layout."""
    from longva.errors import InputError
    from longva.eval.videomme_synthetic import write_synthetic_videomme
    from longva.utils.paths import output_dir

    output_dir(out, "--out")
    if videos_per_duration < 1:
        raise InputError(f"--videos-per-duration {videos_per_duration}: expected >= 1")
    parquet = write_synthetic_videomme(out, videos_per_duration, seed)
    typer.echo(f"wrote {parquet} and {3 * videos_per_duration} videos under {out / 'data'}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
    eval_app.add_typer(videomme_app, name="videomme")
    app.add_typer(eval_app, name="eval")
