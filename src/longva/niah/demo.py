"""The README's comparison figure, from tiny random models the package builds itself.

    python -m longva.niah.demo --out runs/niah-demo [--publish docs/assets]   (make niah-figure)

Builds a tiny random LLaVA-OneVision and a tiny random Qwen2-VL (`adapters.tiny`), runs two
tasks on each (`single` and `counting`, synthetic needles in a synthetic haystack, a small
grid) through `longva niah run`, then `longva niah compare`. The weights are random: the figure
shows the tool's output, not a result about any model. Resumable (reruns skip finished cells).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from longva.cli import main as cli

FAMILIES = ("llava_onevision", "qwen2_vl")
TASKS = ("single", "counting")
GRID = ["--frames", "8:32:8", "--depths", "0:1:0.2"]


def run_demo(out: Path) -> dict:
    from longva.niah.adapters.tiny import save_tiny
    from longva.niah.compare import compare_runs

    runs = []
    for family in FAMILIES:
        model = out / "models" / family
        if not (model / "config.json").exists():
            save_tiny(model, family)
        for task in TASKS:
            run = out / f"{family}-{task}"
            code = cli(
                [
                    "niah",
                    "run",
                    "--model",
                    str(model),
                    "--out",
                    str(run),
                    "--task",
                    task,
                    "--cache-dir",
                    str(out / "cache"),
                    "--synthetic-needles",
                    "3",
                    "--needle-size",
                    "64",
                    "--max-count",
                    "3",
                    "--label",
                    f"tiny random {family}",
                    *GRID,
                ]
            )
            if code != 0:
                raise SystemExit(code)
            runs.append(run)
    return compare_runs(
        runs, out / "compare", "V-NIAH of two tiny RANDOM models (the tool, not a result)"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/niah-demo"))
    p.add_argument("--publish", type=Path, help="copy the figure here as niah_compare.png")
    args = p.parse_args(argv)
    report = run_demo(args.out)
    print(report["markdown"])
    if args.publish:
        args.publish.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report["figure"], args.publish / "niah_compare.png")
        print(f"wrote {args.publish / 'niah_compare.png'}")


if __name__ == "__main__":
    main()
