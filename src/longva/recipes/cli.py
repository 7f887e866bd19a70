"""`longva reproduce`: the toy LongVA recipe end to end (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_cmd)


def reproduce_cmd(
    out: Path = typer.Option(Path("runs/reproduce"), "--out", help="Output folder (stage cache + report)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny grid and few steps (smoke test, ~1-3 min)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every stage (deterministic on one machine)."),
    config: Path | None = typer.Option(None, "--config", help="A RecipeConfig YAML/JSON to start from."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value: --set stages.s1_long.steps=200"),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (default: the config's, 2)."),
    publish: Path | None = typer.Option(None, "--publish", help="Also copy the table and side-by-side figure here (README assets)."),
) -> None:
    """Train the toy LongVA from nothing (text LM, long-context text, short image alignment),
    run V-NIAH against the baselines and write report.md, results.json and heatmaps."""
    import time

    from rich.console import Console

    from longva.recipes.config import RecipeConfig, quick_config
    from longva.recipes.report import vniah_table, write_report
    from longva.recipes.reproduce import reproduce
    from longva.utils.dataclass_config import apply_overrides, load_config, save_config, set_path

    start = time.perf_counter()
    cfg = load_config(RecipeConfig, config) if config else (quick_config(seed) if quick else RecipeConfig(seed=seed))
    if config:
        cfg = set_path(cfg, "seed", seed) if seed else cfg
    cfg = apply_overrides(cfg, set_)
    if threads is not None:
        cfg = set_path(cfg, "threads", threads)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    console = Console(stderr=True)
    result = reproduce(cfg, out, log=console.print)
    results = write_report(result, out, time.perf_counter() - start)
    if publish is not None:
        import shutil

        publish.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "vniah_side_by_side.png", publish / "vniah_side_by_side.png")
        (publish / "vniah_table.md").write_text(vniah_table(results) + "\n")
    console.print(f"report: {out / 'report.md'}")
    typer.echo(vniah_table(results))
    for name, check in results["acceptance"].items():
        typer.echo(f"{name}: {check['value'] if check['value'] is None else round(check['value'], 3)} -> {'OK' if check['ok'] else 'NOT MET'}")
