"""CLI commands of longva.niah (registered into the main app by longva.cli).

    longva niah run  --model DIR --out DIR [--model-type auto|longva|llava_onevision|...]
                     [--task single|multi|distractor|counting|ordering]
                     [--haystack VIDEO|FRAME_DIR|synthetic] [--needles DIR|synthetic]
                     [--frames 200:3000:200] [--depths 0:1:0.2] [--mode exact|generate|mc] ...
    longva niah plot FILE [--out PNG] [--compare FILE2]
    longva niah compare RUN_DIR... --out DIR
    longva niah needles OUT_DIR [--n 5] [--kinds square,object,digit,text] ...
    longva niah-text --model DIR --out DIR [--lengths 32000:512000:32000] ...

`niah` is a command group (run / plot / needles) whose default subcommand is `run`, so
`longva niah --model DIR ...` works as in the original issue. Under torchrun every rank runs
`longva niah run ...`; cells are split across ranks.
"""

from __future__ import annotations

from pathlib import Path

import typer

from longva.utils.cli_groups import DefaultRunGroup
from longva.utils.numbers import (
    FRACTION,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Bounds,
    bounded,
)
from longva.utils.paths import output_dir, output_file

IMAGE_SIZE = Bounds(lo=16, hi=4096, integer=True)  # px of a synthetic needle
PASSKEY_DIGITS = Bounds(lo=1, hi=64, integer=True)

niah_app = typer.Typer(
    cls=DefaultRunGroup,  # `longva niah --model DIR ...` = `longva niah run --model DIR ...`
    name="niah",
    help=(
        "V-NIAH, the visual needle-in-a-haystack benchmark: `longva niah run ...` evaluates a"
        " model (LongVA, LLaVA-OneVision, LLaVA-NeXT-Video, Qwen2-VL, Qwen2.5-VL) on a task"
        " (single, multi, distractor, counting, ordering), `longva niah compare RUN_DIR...`"
        " tabulates runs side by side, `longva niah plot FILE` draws a heatmap (ours or the"
        " original's all_accuracies.json), `longva niah needles DIR` writes synthetic needles."
    ),
    no_args_is_help=True,
)

FRAMES_HELP = "frame counts: start:stop:step (stop included) or a comma list; default: the preset's"
DEPTHS_HELP = "needle depths in [0, 1]: start:stop:step or a comma list; default: the preset's"


@niah_app.command("run")
def run_cmd(
    model: Path = typer.Option(..., help="model folder (LongVA or a transformers video LMM)"),
    out: Path = typer.Option(..., help="output folder (resumes the cells already in it)"),
    model_type: str = typer.Option(
        "auto",
        help="auto (from config.json), longva, llava_onevision, llava_next_video, qwen2_vl,"
        " qwen2_5_vl",
    ),
    task: str = typer.Option(
        "single", help="single, multi (k needles), distractor, counting or ordering"
    ),
    haystack: str = typer.Option(
        "synthetic", help="a local video, a folder of frames, or 'synthetic'"
    ),
    needles: str = typer.Option(
        "synthetic",
        help="a needle folder (images/clips + task.json; single also needles.jsonl or"
        " dataset.json) or 'synthetic'",
    ),
    frames: str | None = typer.Option(None, help=FRAMES_HELP),
    depths: str | None = typer.Option(None, help=DEPTHS_HELP),
    preset: str = typer.Option(
        "original",
        help="grid preset: original (200..3000 x 0..1 step .2), small, smoke, or toy (8..64 frames;"
        " a synthetic haystack and single-task synthetic needles become the toy recipe's)",
    ),
    mode: str = typer.Option(
        "exact",
        help="exact (teacher-forced argmax, the original's), generate (greedy, normalised match)"
        " or mc (multiple choice, every rotation of the options must be right)",
    ),
    rope_theta: float | None = typer.Option(
        None, help="override the RoPE base (training-free extrapolation baseline)"
    ),
    chunk_size: int = typer.Option(1024, help="prefill chunk in tokens (memory ~ chunk x context)"),
    cache_dir: Path | None = typer.Option(
        None, help="embedding cache (default $LONGVA_CACHE/niah or ~/.cache/longva/niah)"
    ),
    fps: float = typer.Option(1.0, help="haystack sampling rate (the original: 1 fps)"),
    haystack_frames: int | None = typer.Option(
        None, help="sample this many frames uniformly instead of --fps"
    ),
    haystack_seed: int = typer.Option(0, help="synthetic haystack seed"),
    haystack_saturation: float = typer.Option(
        1.0, help="synthetic haystack colour saturation (0 = grey)"
    ),
    synthetic_needles: int = typer.Option(5, help="number of synthetic needles"),
    needle_kinds: str = typer.Option("square,object,digit,text", help="synthetic needle kinds"),
    needle_size: int = typer.Option(336, help="synthetic needle image size (px)"),
    needle_multiple_choice: bool = typer.Option(
        False, help="synthetic needles as 4-way multiple choice"
    ),
    multi_k: int = typer.Option(3, help="multi: synthetic needles per video (2..6)"),
    distractors: int = typer.Option(2, help="distractor: synthetic distractors per video"),
    max_count: int = typer.Option(4, help="counting: largest synthetic count"),
    label: str | None = typer.Option(None, help="the model's name in comparisons"),
    max_new_tokens: int = typer.Option(16, help="generate mode: token budget"),
    dtype: str = typer.Option(
        "auto", help="auto (bf16 on GPU, fp32 on CPU), float32|fp32, bfloat16|bf16, float16|fp16"
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
) -> None:
    """Evaluate a video LMM on a V-NIAH task.

    Writes cells.jsonl, all_accuracies.json, avg_accuracy.txt and heatmap.png.
    """
    from longva.niah.vniah_command import VNIAHOptions, run_vniah

    output_dir(out, "--out")
    if cache_dir is not None:
        output_dir(cache_dir, "--cache-dir")
    fps, rope_theta = bounded(fps, "--fps", POSITIVE), bounded(rope_theta, "--rope-theta", POSITIVE)
    haystack_frames = bounded(haystack_frames, "--haystack-frames", POSITIVE_INT)
    haystack_saturation = bounded(haystack_saturation, "--haystack-saturation", FRACTION)
    synthetic_needles = bounded(synthetic_needles, "--synthetic-needles", POSITIVE_INT)
    needle_size = bounded(needle_size, "--needle-size", IMAGE_SIZE)
    multi_k = bounded(multi_k, "--multi-k", Bounds(lo=2, hi=6, integer=True))
    distractors = bounded(distractors, "--distractors", NON_NEGATIVE_INT)
    max_count = bounded(max_count, "--max-count", POSITIVE_INT)
    max_new_tokens = bounded(max_new_tokens, "--max-new-tokens", POSITIVE_INT)
    task_options = {"n": synthetic_needles, "size": needle_size}
    task_options.update({"multi": {"k": multi_k}, "distractor": {"m": distractors},
                         "counting": {"max_count": max_count}}.get(task, {}))
    opts = VNIAHOptions(
        model=model,
        out=out,
        haystack=haystack,
        needles=needles,
        frames=frames,
        depths=depths,
        preset=preset,
        mode=mode,
        rope_theta=rope_theta,
        chunk_size=_positive(chunk_size, "--chunk-size"),
        cache_dir=cache_dir,
        fps=fps,
        haystack_frames=haystack_frames,
        synthetic={"seed": haystack_seed, "saturation": haystack_saturation},
        needle_options={
            "n": synthetic_needles,
            "kinds": _kinds(needle_kinds),
            "size": needle_size,
            "options": needle_multiple_choice,
        },
        max_new_tokens=max_new_tokens,
        dtype=dtype,
        device=device,
        model_type=model_type,
        task=task,
        task_options=task_options,
        label=label,
    )
    _report(run_vniah(opts), out)


@niah_app.command("plot")
def plot_cmd(
    file: Path = typer.Argument(
        ..., help="all_accuracies.json (ours or the original's), cells.jsonl or a run folder"
    ),
    out: Path | None = typer.Option(None, help="PNG to write (default: heatmap.png next to FILE)"),
    compare: Path | None = typer.Option(None, help="a second run, drawn side by side"),
    title: str | None = typer.Option(None, help="figure title (single plot)"),
) -> None:
    """Re-plot a NIAH heatmap with the original's look, or two runs side by side."""
    from longva.niah.plot import load_entries, plot_compare, plot_heatmap

    if out is not None:
        output_file(out, "--out", "a .png file path")
    entries, layout = load_entries(file)
    folder = file if file.is_dir() else file.parent
    if compare is None:
        png = plot_heatmap(entries, out or folder / "heatmap.png", layout, title)
    else:
        other, other_layout = load_entries(compare)
        png = plot_compare(
            (entries, layout, _name(file)),
            (other, other_layout, _name(compare)),
            out_png=out or folder / "heatmap_compare.png",
        )
    typer.echo(str(png))


@niah_app.command("compare")
def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="run folders of `longva niah run`"),
    out: Path = typer.Option(..., help="folder for compare.md, compare.json and the figures"),
    title: str | None = typer.Option(None, help="title of the side-by-side figure"),
) -> None:
    """Compare runs: Markdown table (average, per length), JSON, heatmaps, side-by-side figure."""
    from longva.niah.compare import compare_runs

    output_dir(out, "--out")
    report = compare_runs(runs, out, title)
    typer.echo(report["markdown"])
    typer.echo(f"figure: {report['figure']}")


@niah_app.command("needles")
def needles_cmd(
    out: Path = typer.Argument(..., help="folder to write (images/ + needles.jsonl)"),
    n: int = typer.Option(5, help="number of needles"),
    kinds: str = typer.Option(
        "square,object,digit,text", help="comma list of square, object, digit, text"
    ),
    size: int = typer.Option(336, help="image size (px)"),
    colors: str | None = typer.Option(None, help="colour answer vocabulary, e.g. Red,Green,Blue"),
    options: bool = typer.Option(False, help="4-way multiple choice (answer = letter)"),
    background: str = typer.Option("texture", help="texture or plain"),
    seed: int = typer.Option(0),
) -> None:
    """Write a synthetic counterfactual needle set (no downloads)."""
    from longva.niah.synthetic_needles import generate_needles

    output_dir(out, "OUT")
    n, size = bounded(n, "--n", POSITIVE_INT), bounded(size, "--size", IMAGE_SIZE)
    palette = [c.strip() for c in colors.split(",")] if colors else None
    typer.echo(
        str(
            generate_needles(
                out,
                n,
                size,
                _kinds(kinds, "--kinds"),
                palette,
                options=options,
                background=background,
                seed=seed,
            )
        )
    )


def niah_text_cmd(
    model: Path = typer.Option(
        ..., help="a HF causal-LM folder, or a LongVA folder (its LM is used)"
    ),
    out: Path = typer.Option(..., help="output folder (resumes the cells already in it)"),
    haystack: str = typer.Option(
        "synthetic", help="'synthetic', a .txt file or a folder of .txt files"
    ),
    lengths: str | None = typer.Option(
        None, help="token limits: start:stop:step or a comma list; default: the preset's"
    ),
    depths: str | None = typer.Option(None, help=DEPTHS_HELP),
    preset: str = typer.Option(
        "text",
        help="grid preset: text (32K..512K x 0..1 step .1), or text-toy (256..2048 tokens; the toy"
        " recipe's colour word in its filler words instead of a passkey)",
    ),
    samples: int = typer.Option(5, help="passkeys per cell"),
    digits: int = typer.Option(7, help="digits of the passkey"),
    distractors: int = typer.Option(0, help="distractor numbers for other cities"),
    seed: int = typer.Option(24242424),
    mode: str = typer.Option("exact", help="exact (teacher-forced) or generate"),
    rope_theta: float | None = typer.Option(None, help="override the RoPE base"),
    chunk_size: int = typer.Option(1024, help="prefill chunk in tokens"),
    dtype: str = typer.Option("auto"),
    device: str = typer.Option("cpu"),
) -> None:
    """Text NIAH (passkey retrieval) for an LM alone; x axis "Token Limit"."""
    from longva.niah.text_niah_command import TextNIAHOptions, run_text_niah

    output_dir(out, "--out")
    samples, digits = bounded(samples, "--samples", POSITIVE_INT), bounded(digits, "--digits", PASSKEY_DIGITS)
    distractors = bounded(distractors, "--distractors", NON_NEGATIVE_INT)
    rope_theta = bounded(rope_theta, "--rope-theta", POSITIVE)
    opts = TextNIAHOptions(
        model=model,
        out=out,
        haystack=haystack,
        lengths=lengths,
        depths=depths,
        preset=preset,
        samples=samples,
        digits=digits,
        distractors=distractors,
        seed=seed,
        mode=mode,
        rope_theta=rope_theta,
        chunk_size=_positive(chunk_size, "--chunk-size"),
        dtype=dtype,
        device=device,
    )
    _report(run_text_niah(opts), out)


def _positive(value: int, flag: str) -> int:
    return bounded(value, flag, POSITIVE_INT)


def _kinds(spec: str, flag: str = "--needle-kinds") -> list[str]:
    from longva.errors import InputError
    from longva.niah.synthetic_needles import KINDS

    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise InputError(f"{flag} {spec!r}: unknown kind {bad[0] if bad else '(none)'!r}; expected a comma list of"
                         f" {', '.join(KINDS)}")
    return kinds


def _name(path: Path) -> str:
    return path.name if path.is_dir() else path.parent.name or path.name


def _report(summary: dict | None, out: Path) -> None:
    if summary is None:  # not rank 0
        return
    state = (
        "complete"
        if summary["complete"]
        else f"{summary['cells']}/{summary['expected_cells']} grid points"
    )
    typer.echo(f"Average Accuracy: {summary['average']}  ({state}; results in {out})")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
    app.add_typer(niah_app, name="niah")
    app.command("niah-text")(niah_text_cmd)
