"""CLI commands of longva.train (registered into the main app by longva.cli).

    longva train text --config X.yaml [--resume] [--set key.path=value ...]
    longva train align --config X.yaml [--resume] [--set key.path=value ...] [--check-data]

Under `torchrun` the same command runs data / context parallel / FSDP2 training (see the
`parallel` section of the config).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from longva.utils.paths import output_dir

train_app = typer.Typer(help="Training stages (long-context text; vision alignment).", no_args_is_help=True)


@train_app.command("text")
def text(
    config: Path = typer.Option(..., "--config", help="YAML/JSON training config (see configs/train_text_*.yaml)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in train.output_dir."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config value: --set train.steps=10 (repeatable)."
    ),
) -> None:
    """Long-context text training: larger RoPE base, long packed sequences, exact resume."""
    from longva.train.text_stage import load_text_config, run_text_training

    cfg = load_text_config(config, overrides)
    output_dir(cfg.train.output_dir, "train.output_dir")  # before the model loads
    history = run_text_training(cfg, resume=resume)
    if history and os.environ.get("RANK", "0") == "0":
        last = history[-1]
        typer.echo(f"step {last['step']}/{cfg.train.steps} loss {last['loss']:.4f} -> {cfg.train.output_dir}", err=True)


@train_app.command("align")
def align(
    config: Path = typer.Option(..., "--config", help="YAML/JSON alignment config (see configs/train_align_*.yaml)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in train.output_dir."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config value: --set train.steps=10 (repeatable)."
    ),
    check_data: bool = typer.Option(False, "--check-data", help="Check every dataset row and image before training."),
) -> None:
    """Vision-text alignment on LLaVA conversations: projector / vision tower / LM, exact resume."""
    from longva.train.align_stage import check_align_data, load_align_config, run_align_training

    cfg = load_align_config(config, overrides)
    output_dir(cfg.train.output_dir, "train.output_dir")  # before the model loads
    dataset = None
    if check_data:  # before the weights load and before anything is written
        dataset, s = check_align_data(cfg)
        typer.echo(
            f"data ok: {s['rows']} rows, {s['images']} images, longest {s['longest']} tokens, {len(s['too_long'])} "
            "too long",
            err=True,
        )
    history = run_align_training(cfg, resume=resume, dataset=dataset)
    if history and os.environ.get("RANK", "0") == "0":
        last = history[-1]
        typer.echo(f"step {last['step']} loss {last['loss']:.4f} -> {cfg.train.output_dir}", err=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
    app.add_typer(train_app, name="train")
