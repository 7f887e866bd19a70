"""CLI commands of longva.inference (registered into the main app by longva.cli).

    longva chat --model DIR --video FILE [--frames 32 | --fps 1] [--start S --end E] "question"
    longva chat --model DIR --image a.png --image b.jpg "Compare them."
    longva chat --model DIR --video FILE            # interactive: one question per stdin line
    longva info --model DIR [--json]

Answers stream to stdout as they are generated. With --json, stdout holds only the JSON object
(one per line per question in interactive mode); warnings (e.g. more frames asked for than the
video has) go to stderr as `warning: ...` lines and into the JSON.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from longva.errors import InputError
from longva.utils.cli_errors import OWN_WARNINGS
from longva.utils.numbers import NON_NEGATIVE, POSITIVE, POSITIVE_INT, PROBABILITY, bounded
from longva.utils.paths import input_dir
from longva.utils.text_input import stdin_lines


def chat_cmd(
    question: str | None = typer.Argument(None, help="the question; none: read questions from stdin, one per line"),
    model: Path = typer.Option(..., "--model", "-m", help="LongVA model folder"),
    video: Path | None = typer.Option(None, help="a video file or a folder of frames"),
    image: list[Path] | None = typer.Option(None, help="an image file (repeat for several)"),
    frames: int | None = typer.Option(None, help="frames sampled uniformly over the video (default 32)"),
    fps: float | None = typer.Option(None, help="sample at this rate instead (--frames then caps the count)"),
    start: float | None = typer.Option(None, help="use the video from this second"),
    end: float | None = typer.Option(None, help="use the video up to this second"),
    max_new_tokens: int = typer.Option(1024, help="answer length limit in tokens"),
    temperature: float = typer.Option(0.0, help="0: greedy (default); > 0: sampling"),
    top_p: float = typer.Option(1.0, help="nucleus sampling mass (with --temperature > 0)"),
    seed: int | None = typer.Option(None, help="seed for sampling"),
    system: str | None = typer.Option(None, help="system message (default: the template's)"),
    frame_mode: str | None = typer.Option(
        None, help="crop (center crop, as LongVA inference) or pad; default: the model's"
    ),
    dtype: str = typer.Option(
        "auto", help="auto (bf16 on GPU, fp32 on CPU), float32|fp32, bfloat16|bf16, float16|fp16"
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
    json_out: bool = typer.Option(False, "--json", help="print a JSON object per answer instead of streaming text"),
) -> None:
    """Ask a LongVA model about a video and/or images (interactive when no question is given)."""
    from longva.inference.pipeline import load_pipeline
    from longva.inference.session import ChatSession, is_exit
    from longva.inference.visuals import prepare_visuals

    input_dir(model, "--model", "a LongVA model folder")
    frames = bounded(frames, "--frames", POSITIVE_INT)
    fps = bounded(fps, "--fps", POSITIVE)
    start, end = bounded(start, "--start", NON_NEGATIVE), bounded(end, "--end", POSITIVE)
    max_new_tokens = bounded(max_new_tokens, "--max-new-tokens", POSITIVE_INT)
    temperature = bounded(temperature, "--temperature", NON_NEGATIVE)
    top_p = bounded(top_p, "--top-p", PROBABILITY)
    if frame_mode not in (None, "crop", "pad"):
        raise InputError(f"--frame-mode {frame_mode!r} is unknown; expected crop or pad")
    notes: list[str] = []
    with warnings_to_stderr(notes):
        pipe = load_pipeline(model, dtype=dtype, device=device)
        visuals = prepare_visuals(pipe.processor, video, image, frames, fps, start, end, frame_mode)
        session = ChatSession(
            pipe, visuals, system=system, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, seed=seed,
        )
        for q in _questions(question):
            if is_exit(q):
                break
            result = session.ask(q, callback=None if json_out else _print_piece)
            if json_out:
                typer.echo(json.dumps(chat_record(result, q, model, notes)))
            else:
                typer.echo("")
            notes.clear()  # warnings belong to the turn that raised them


def info_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="LongVA model folder"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Config summary, parameter counts, tokens per frame and how many frames fit the context."""
    from longva.inference.info import format_info, model_info

    info = model_info(input_dir(model, "--model", "a LongVA model folder"))
    typer.echo(json.dumps(info) if json_out else format_info(info))


def chat_record(result, question: str, model_dir: Path, notes: list[str]) -> dict:
    """The --json object of one answer."""
    return {
        "model_dir": str(model_dir),
        "question": question,
        "answer": result.answer,
        "frames_used": result.frames_used,
        "visual_tokens": result.visual_tokens,
        "prompt_tokens": result.prompt_tokens,
        "new_tokens": result.new_tokens,
        "finish_reason": result.finish_reason,
        "reused_tokens": result.reused_tokens,
        "turn": len(result.history.turns),
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": list(notes),
    }


def _print_piece(piece: str) -> None:
    typer.echo(piece, nl=False)  # click flushes after each echo: tokens appear as they come


def _questions(question: str | None) -> Iterator[str]:
    """The question given, or one per non-empty stdin line until EOF."""
    if question is not None:
        yield question
        return
    if sys.stdin.isatty():
        print("> ", end="", file=sys.stderr, flush=True)
    for line in stdin_lines():  # strict UTF-8: a garbled byte is an error, not a question
        if line.strip():
            yield line.strip()
        if sys.stdin.isatty():
            print("> ", end="", file=sys.stderr, flush=True)


@contextmanager
def warnings_to_stderr(collected: list[str]):
    """Show each Python warning as one `warning: ...` line on stderr, and collect it."""
    with warnings.catch_warnings():
        # a clamp on every video, not once per place; torch's own advice stays hidden
        warnings.filterwarnings("always", category=UserWarning, module=OWN_WARNINGS)

        def show(message, category, filename, lineno, file=None, line=None):
            text = " ".join(str(message).split())
            collected.append(text)
            print(f"warning: {text}", file=sys.stderr, flush=True)

        warnings.showwarning = show
        yield


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
    app.command("chat")(chat_cmd)
    app.command("info")(info_cmd)
