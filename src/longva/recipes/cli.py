"""`longva reproduce`: the toy LongVA recipe end to end (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_cmd)


def reproduce_cmd(
    out: Path = typer.Option(Path("runs/reproduce"), "--out", help="Output folder (stage cache + reports)."),
    quick: bool = typer.Option(
        False, "--quick", help="Tiny grid and few steps: a smoke run (~1-3 min), accuracy not expected."
    ),
    seed: int = typer.Option(0, "--seed", help="One seed (deterministic on one machine)."),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Seeds as an axis: a count (3 = seeds 0,1,2) or a list (0,1,2)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A RecipeConfig YAML/JSON to start from."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value: --set stages.s1_long.steps=200"),
    threads: int | None = typer.Option(
        None, "--threads", help="Cores to use (default: the config's, 2): the text stages run at this many "
        "threads, the alignments and evaluations in this many one-thread processes."
    ),
    publish: Path | None = typer.Option(
        None, "--publish", help="Also copy the tables and side-by-side figure here (README assets)."
    ),
) -> None:
    """Train the toy LongVA from nothing (tower, text LM, long-context text, short image alignment)
    for each seed, run V-NIAH against the baselines, and write per-seed and over-seed reports."""
    import time

    from rich.console import Console

    from longva.utils.numbers import NON_NEGATIVE_INT, POSITIVE_INT, bounded
    from longva.utils.paths import output_dir

    output_dir(out, "--out")  # argument checks only (issue 16): before any stage runs
    if publish is not None:
        output_dir(publish, "--publish")
    seed, threads = bounded(seed, "--seed", NON_NEGATIVE_INT), bounded(threads, "--threads", POSITIVE_INT)

    from longva.recipes.config import RecipeConfig, quick_config
    from longva.recipes.report import write_report
    from longva.recipes.reproduce import parse_seeds, reproduce
    from longva.recipes.seed_report import (
        acceptance_table,
        mean_table,
        seeds_table,
        write_seed_report,
    )
    from longva.utils.dataclass_config import apply_overrides, load_config, save_config, set_path

    seed_list = parse_seeds(seeds) if seeds is not None else [seed]
    cfg = (
        load_config(RecipeConfig, config)
        if config
        else (quick_config(seed_list[0]) if quick else RecipeConfig(seed=seed_list[0]))
    )
    cfg = apply_overrides(cfg, set_)
    if threads is not None:
        cfg = set_path(cfg, "threads", threads)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    console = Console(stderr=True)
    runs, per_seed, walls = {}, {}, {}
    for s in seed_list:
        start = time.perf_counter()
        console.print(f"[bold]seed {s}[/bold]")
        runs[s] = reproduce(set_path(cfg, "seed", s), out, log=console.print)
        walls[s] = time.perf_counter() - start
        per_seed[s] = write_report(runs[s], out / f"seed_{s}", walls[s])
    results = write_seed_report(runs, per_seed, walls, out)
    if publish is not None:
        _publish(out, publish, results)
    console.print(f"report: {out / 'report.md'}")
    typer.echo("V-NIAH per seed (average / > 4x S0 ctx):\n" + seeds_table(results) + "\n")
    typer.echo(f"V-NIAH mean ± 95% CI over {len(seed_list)} seed(s):\n" + mean_table(results) + "\n")
    if quick:
        typer.echo(
            "(--quick is a smoke run of the pipeline: accuracy is not expected, the checks below are not meaningful)"
        )
    typer.echo("Acceptance:\n" + acceptance_table(results))


def _publish(out: Path, publish: Path, results: dict) -> None:
    import shutil

    from longva.recipes.seed_report import acceptance_table, mean_table, seeds_table

    publish.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "vniah_side_by_side.png", publish / "vniah_side_by_side.png")
    (publish / "vniah_table.md").write_text(
        mean_table(results) + "\n\n" + seeds_table(results) + "\n\n" + acceptance_table(results) + "\n"
    )
