"""`longva ablate`: read an ablation plan, compile it to experiments of the LongVA recipe, run them.

    longva ablate PLAN --dry-run [--json]     compiled matrix (one JSON object per variant)
    longva ablate PLAN [--quick] [--seeds N] [--out DIR] [--threads N] [--vniah-grid iso-tokens|frames]
                                              compile, run (resuming what an earlier call finished),
                                              write the report to --out and print the tables
    longva ablate parse PLAN [--json]         the parsed plan alone
    longva ablate knobs | metrics             what plans can name

`ablate` is a group whose default subcommand is `run`: when the first argument is not a
subcommand name (`longva ablate plan.md --dry-run`), `run` is implied. Every command builds its
registry explicitly: the LongVA adapter's `register`, then `--plugin` modules' `register`. This
module is imported when `longva` starts, so the recipe (and torch) are imported by the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from longva.ablation.compiler import COUNT_POLICIES
from longva.utils.cli_groups import DefaultRunGroup
from longva.utils.paths import output_dir

ablate_app = typer.Typer(
    cls=DefaultRunGroup,
    name="ablate",
    help="Read an ablation plan (markdown, JSONL, JSON or YAML), compile it to experiments, run them.",
    no_args_is_help=True,
    add_completion=False,
)

_PLAN = typer.Argument(..., help="Plan file: rendered markdown, JSONL/JSON records, plans.json or YAML.")
_TASK = typer.Option(None, "--task", help="Task id inside a plans.json holding several plans.")
_PLUGIN = typer.Option([], "--plugin", help="Import a module and call its register(registry).")


@ablate_app.command("run")
def run_command(
    plan: Path = _PLAN,
    dry_run: bool = typer.Option(False, "--dry-run", help="Compile and print the matrix; run nothing."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: one JSON object per variant."),
    quick: bool = typer.Option(False, "--quick", help="Smoke scale: tiny model, few steps."),
    seeds: int = typer.Option(1, "--seeds", min=1,
                              help="Run every row (baseline included) with the same N seeds; a rerun with more"
                                   " seeds adds the new ones only."),
    out: Path | None = typer.Option(None, "--out", help="Output folder for the report."),
    variant_map: Path | None = typer.Option(None, "--variant-map", help="YAML/JSON: entry -> item -> {path: value}."),
    set_: list[str] = typer.Option([], "--set", help="'Entry/Item: key=val,key=val' explicit overrides."),
    part: list[str] = typer.Option([], "--part", help="'Entry=knob.id[@stage]': which knob an entry names."),
    counts: str = typer.Option("relative", "--counts",
                               help="Counts a plan gives on its own model's scale, with '(currently X)' in the part"
                                    f" ({' | '.join(COUNT_POLICIES)}): relative runs v as v x ours / X;"
                                    " literal runs v as written."),
    skip_unknown_metrics: bool = typer.Option(False, "--skip-unknown-metrics",
                                              help="Unknown metric names become warnings ('n/a: unknown metric')."),
    plugin: list[str] = _PLUGIN,
    recipe: Path | None = typer.Option(None, "--recipe", help="Base recipe file (YAML/JSON RecipeConfig)."),
    base_set: list[str] = typer.Option([], "--base-set", help="'path=value' applied to the base (every run)."),
    task: str | None = _TASK,
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="Torch threads per stage (default: the recipe's)."),
    vniah_grid: str = typer.Option("iso-tokens", "--vniah-grid",
                                   help="V-NIAH frames of variants with another token count per frame:"
                                        " iso-tokens (scale frames to the base's token lengths) | frames."),
    cache: Path | None = typer.Option(None, "--cache", help="Stage cache folder (default OUT/cache); share it"
                                                              " between plans to reuse their common stages."),
) -> None:
    """Compile PLAN against the recipe; with --dry-run print the matrix, else run it."""
    from longva.ablation.compiler import compile_plan
    from longva.ablation.parse import load_plan
    from longva.recipes.ablation.recipe_target import RecipeTarget

    if not dry_run:  # argument checks only (issue 16): the output folders, before anything trains
        for folder, flag in ((out, "--out"), (cache, "--cache")):
            if folder is not None:
                output_dir(folder, flag)
    registry = _registry(plugin)
    RecipeTarget(vniah_grid=vniah_grid)  # checks the option before anything is compiled
    parsed = load_plan(plan, task=task)
    explicit = _explicit(parsed, variant_map, set_, part)
    base = _base(recipe, base_set, quick)
    compiled = compile_plan(parsed, registry, base, explicit=explicit, skip_unknown_metrics=skip_unknown_metrics,
                            counts=counts)
    if dry_run:
        _show_compiled(compiled, as_json)
        compiled.raise_if_unresolved()  # non-zero exit when anything is unresolved
        return
    compiled.raise_if_unresolved()  # refuse before any compute
    from longva.ablation.report_output import tables
    from longva.recipes.ablation.adapter import run_recipe_ablation
    from longva.utils.progress import console

    result = run_recipe_ablation(compiled, out_dir=out, seeds=seeds, quick=quick, base=base, threads=threads,
                                 vniah_grid=vniah_grid, cache_dir=cache)
    console.print(f"report: {result.out_dir / 'report.md'} ({len(result.computed)} runs computed,"
                  f" {len(result.reused)} reused)", markup=False, highlight=False)
    typer.echo(tables(result.results), nl=False)


@ablate_app.command("parse")
def parse_command(
    plan: Path = _PLAN,
    as_json: bool = typer.Option(False, "--json", help="Print the parsed plan as JSON."),
    task: str | None = _TASK,
) -> None:
    """Parse PLAN and print it (exit 2 with a one-line message when it is malformed)."""
    from longva.ablation.parse import load_plan

    parsed = load_plan(plan, task=task)
    if as_json:
        typer.echo(json.dumps(parsed.to_json(), indent=2, ensure_ascii=False, default=str))
        return
    from rich.console import Console

    from longva.ablation.report_output import print_plan

    print_plan(parsed, Console())


@ablate_app.command("knobs")
def knobs_command(plugin: list[str] = _PLUGIN) -> None:
    """List the knobs plans can name (id, config paths, summary)."""
    for knob in sorted(_registry(plugin).knobs.values(), key=lambda k: k.id):
        typer.echo(f"{knob.id}: {knob.summary}")
        typer.echo(f"    params: {knob.describe_params()}; examples: {', '.join(knob.examples)}")


@ablate_app.command("metrics")
def metrics_command(plugin: list[str] = _PLUGIN) -> None:
    """List the metrics plans can name (id, kind, aliases)."""
    for spec in _registry(plugin).metrics.specs.values():
        typer.echo(f"{spec.id} [{spec.kind}]: {spec.summary}; aliases: {', '.join(spec.aliases)}")


def _registry(plugins: list[str]):
    """The LongVA recipe's registry plus the plugins' additions."""
    from longva.ablation.registry import load_plugins
    from longva.recipes.ablation.adapter import longva_registry

    registry = longva_registry()
    load_plugins(registry, plugins)
    return registry


def _base(recipe: Path | None, base_set: list[str], quick: bool):
    """The base recipe: a file, or the defaults (`quick_config()` with --quick), plus --base-set."""
    from longva.ablation.errors import CompileError
    from longva.ablation.items import parse_assignments
    from longva.recipes.ablation.adapter import RecipeView

    base = RecipeView.from_file(recipe) if recipe else RecipeView.default(quick=quick)
    overrides: dict = {}
    for spec in base_set:
        parsed = parse_assignments(spec)
        if not parsed:
            raise CompileError(f"--base-set {spec!r}: expected 'path=value[,path=value]'")
        overrides.update(parsed)
    if not overrides:
        return base
    changed = base.apply(overrides)
    changed.origin = f"{base.origin} + {', '.join(f'{k}={v}' for k, v in overrides.items())}"
    return changed


def _explicit(parsed, variant_map: Path | None, sets: list[str], parts: list[str]):
    from longva.ablation.items import ExplicitOverrides, load_variant_map, parse_part, parse_set

    explicit = load_variant_map(variant_map) if variant_map else ExplicitOverrides()
    names = [e.name for e in parsed.entries]
    for spec in sets:
        entry, item, overrides = parse_set(spec, names)
        explicit.add_item(entry, item, overrides)
    for spec in parts:
        explicit.add_part(*parse_part(spec))
    return explicit


def _show_compiled(compiled, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(compiled.to_json(), indent=2, ensure_ascii=False, default=str))
        return
    from rich.console import Console

    from longva.ablation.report_output import print_compiled

    print_compiled(compiled, Console())


def register(app: typer.Typer) -> None:
    """Add `longva ablate ...` to the main `longva` app."""
    app.add_typer(ablate_app, name="ablate")
