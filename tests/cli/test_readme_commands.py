"""The README's commands run as written on what the toy recipe produces.

Every command of README.md's fenced bash blocks is in `TABLE`: run here (on the outputs of
`longva reproduce --quick`, written where `make demo` writes its own: `runs/reproduce`, in a
temporary working folder) or skipped with the reason. A command the table does not know fails
the test, and so does a table entry the README no longer has. What stands in for what
(`SUBSTITUTE` below, nothing else is changed):

    runs/reproduce (make demo)   the quick recipe's outputs: the README's `longva reproduce --quick`
                                 line, run first by the fixture with `--out runs/reproduce`
    $DIR, $LM_DIR                what the README's own `DIR=$(python3 ...)` lines print
    clip.mp4, a.png, b.png       a 40-frame video and two images of the recipe's frames, made here
    configs/...                  the repository's configs
    the seed-000 plan, PLAN      tests/ablation/fixtures/000_0f3521004b7f0ce0.txt (the same plan)
    python                       this interpreter
    ~/videos                     an empty folder of the working folder

Appended, only to bound time, threads or ports: `--set train.steps=4` to `longva train text`
(`Run.extra`), `--threads 1` to the quick recipe and `--port <a free one>` to `longva serve`.

The quick models are barely trained: V-NIAH is asserted to complete and write its results, not
to score. A separate test checks that `--preset toy` / `text-toy` ask exactly what the recipe
trains (needles, question, answers, prompt tokens) and that `niah-text --preset text-toy`
reproduces the recipe's own text-NIAH verdicts cell for cell.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from longva.cli import main
from longva.data.toy.colours import COLOURS, PromptPieces, haystack_pixels, needle_colours, needle_frame
from longva.data.video_writer import write_video
from longva.niah.adapters import load_adapter
from longva.niah.toy import ToyHaystack
from longva.recipes.config import RecipeConfig

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "tests" / "ablation" / "fixtures" / "000_0f3521004b7f0ce0.txt"
SUBSTITUTE = {
    "~/videos": "videos",  # a folder of the working folder
    "../shared/plans/seeds/000_0f3521004b7f0ce0.txt": str(PLAN),
    "PLAN": str(PLAN),
    "python": sys.executable,
    "runs/reproduce-quick": "runs/reproduce",  # the quick recipe's outputs where make demo's are looked up
}


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Run:
    """A command run here: `check(workspace, stdout)` asserts its outputs; `extra` args are
    appended (only to bound the time a training takes)."""

    check: Callable[[Path, str], None]
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Serve:
    """`longva serve`: started on a free loopback port (`--port` appended), asked `GET /v1/models`
    (the model folder's name must be listed), stopped with SIGINT (exit 0)."""


@dataclass(frozen=True)
class Fixture:
    """The quick recipe: run once, first, by the `workspace` fixture (`--threads 1` appended)."""


@dataclass(frozen=True)
class Shell:
    """A shell assignment `NAME=$(...)`: run by bash, its value feeds `$NAME` in later commands."""

    name: str


def _files(*names: str) -> Callable[[Path, str], None]:
    def check(ws: Path, stdout: str) -> None:
        for name in names:
            assert (ws / name).is_file(), f"{name} was not written"

    return check


def _vniah(folder: str, cells: int | None = None) -> Callable[[Path, str], None]:
    def check(ws: Path, stdout: str) -> None:
        _files(*(f"{folder}/{f}" for f in ("all_accuracies.json", "avg_accuracy.txt", "heatmap.png")))(ws, stdout)
        assert "Average Accuracy:" in stdout and "complete" in stdout
        records = (ws / folder / "cells.jsonl").read_text().splitlines()
        assert cells is None or len(records) == cells

    return check


def _chat_text(ws: Path, stdout: str) -> None:
    assert stdout.strip(), "no answer printed"


def _chat_json(ws: Path, stdout: str) -> None:
    record = json.loads(stdout)
    assert record["question"] == "Compare the two images." and record["answer"] and record["visual_tokens"] > 0


def _info(ws: Path, stdout: str) -> None:
    assert "tokens per frame: 4 (2x2)" in stdout and "template:         qwen_1_5" in stdout, stdout


def _compare(ws: Path, stdout: str) -> None:
    _files("out/compare/compare.md", "out/compare/compare.png")(ws, stdout)
    runs = json.loads((ws / "out/compare/compare.json").read_text())["runs"]
    assert [(r["run"], r["task"], r["mode"]) for r in runs] == [
        ("out/vniah-toy", "single", "exact"), ("out/vniah-counting", "counting", "mc")
    ]
    assert all(list(r["by_length"]) == [str(n) for n in range(8, 65, 8)] for r in runs)  # the toy grid


def _videomme(ws: Path, stdout: str) -> None:
    _files(*(f"runs/videomme-synthetic/{f}" for f in ("results.json", "results.md", "accuracy_vs_frames.png")))(
        ws, stdout
    )
    records = [json.loads(line) for line in (ws / "runs/videomme-synthetic/records.jsonl").read_text().splitlines()]
    assert {r["frames"] for r in records} == {8, 16, 32, 64, 128, 384}


def _plot(ws: Path, stdout: str) -> None:
    assert Path(stdout.strip()).resolve() == (ws / "out/vniah-toy/heatmap_compare.png").resolve()
    _files("out/vniah-toy/heatmap_compare.png")(ws, stdout)


def _final(folder: str) -> Callable[[Path, str], None]:
    def check(ws: Path, stdout: str) -> None:
        assert (ws / folder / "final").is_dir(), f"{folder}/final was not written"

    return check


def _dry_run(ws: Path, stdout: str) -> None:
    assert "ablation matrix: lm-planner/gpt-4o/Long_Context_Transfer_from_Language_to_Vision" in stdout
    assert not (ws / "runs/ablate").exists()  # a dry run trains nothing


def _parsed_plan(ws: Path, stdout: str) -> None:
    entries = json.loads(stdout)["entries"]
    assert [e["name"] for e in entries] == ["Pooling Strategy Ablation", "Learning Rate Schedule Ablation"]


# 5 needles (the default --synthetic-needles / --samples) x 8 lengths x 6 depths (toy / text-toy grids)
TOY_CELLS = 5 * 8 * 6
TABLE: dict[str, Skip | Run | Serve | Shell | Fixture] = {
    # top of the README
    "make demo": Skip("the whole recipe over 3 seeds (~14 min); its quick version makes the models here"),
    "make test": Skip("the test suite itself"),
    # Using it
    "DIR=$(python3 -c \"import json; print(json.load(open('runs/reproduce/seed_0/models.json'))['longva'])\")":
        Shell("DIR"),
    "LM_DIR=$(python3 -c \"import json; print(json.load(open('runs/reproduce/seed_0/models.json'))['s1_long'])\")":
        Shell("LM_DIR"),
    'longva chat --model $DIR --video clip.mp4 --frames 32 "What is the colour of the needle? Answer with a single'
    ' word."': Run(_chat_text),
    'longva chat --model $DIR --image a.png --image b.png "Compare the two images." --json': Run(_chat_json),
    "longva info --model $DIR": Run(_info),
    "longva niah --model $DIR --haystack movie.mp4 --needles needles/ --frames 200:3000:200 --depths 0:1:0.2 --out"
    " out/vniah": Skip("your own movie.mp4 and the original needles, 3,000 frames"),
    "longva niah --model $DIR --haystack synthetic --needles synthetic --preset toy --out out/vniah-toy":
        Run(_vniah("out/vniah-toy", TOY_CELLS)),
    "longva niah --model $DIR --task counting --mode mc --preset toy --out out/vniah-counting":
        Run(_vniah("out/vniah-counting")),
    "longva niah compare out/vniah-toy out/vniah-counting --out out/compare": Run(_compare),
    "longva niah plot out/vniah-toy/all_accuracies.json --compare out/vniah-counting/all_accuracies.json":
        Run(_plot),
    "longva niah-text --model $LM_DIR --preset text-toy --out out/text-niah": Run(_vniah("out/text-niah", TOY_CELLS)),
    "longva train text --config configs/train_text_toy.yaml": Run(
        _final("runs/train_text_toy"), ("--set", "train.steps=4", "--set", "train.checkpoint_every=2")
    ),
    "torchrun --nproc_per_node 8 -m longva.cli train text --config configs/train_text_qwen2_7b_224k.yaml":
        Skip("8 GPUs and a Qwen2-7B checkpoint"),
    "python -m longva.data.toy.align_folder runs/align_toy_data": Run(_files("runs/align_toy_data/lm/config.json")),
    "longva train align --config configs/train_align_toy.yaml": Run(_final("runs/train_align_toy")),
    "longva reproduce --out runs/reproduce": Skip("make demo's recipe (~2 min a seed); the fixture runs --quick"),
    "longva reproduce --seeds 10 --threads 4 --out runs/reproduce10": Skip(
        "10 seeds of make demo's recipe (~25 min on 2 cores); tests/recipes/test_schedule.py runs the workers"
    ),
    "longva reproduce --quick --out runs/reproduce-quick": Fixture(),
    "longva ablate ../shared/plans/seeds/000_0f3521004b7f0ce0.txt --dry-run": Run(_dry_run),
    "longva ablate ../shared/plans/seeds/000_0f3521004b7f0ce0.txt --out runs/ablate/seed000 --cache"
    " runs/ablate/cache --seeds 3": Skip("an hour of training (every variant over 3 paired seeds)"),
    "longva ablate parse PLAN --json": Run(_parsed_plan),
    # V-NIAH for any video LMM
    "longva niah --model llava-onevision-qwen2-7b-ov-hf --task counting --mode mc --haystack movie.mp4 --fps 1"
    " --frames 200:3000:200 --out out/ov-counting": Skip("a 7B LLaVA-OneVision checkpoint and your movie.mp4"),
    "longva niah --model Qwen2-VL-7B-Instruct --model-type qwen2_vl --task multi --multi-k 3 --frames 200:3000:200"
    " --out out/qwen-multi": Skip("a 7B Qwen2-VL checkpoint"),
    "longva niah --model $DIR --task distractor --needles my_needles/ --mode generate --out out/distractor":
        Skip("your own distractor needle folder; the adapters' tests run every family on tiny models"),
    "longva niah compare out/ov-counting out/qwen-multi ... --out out/compare": Skip("compares the 7B runs above"),
    "make niah-figure": Skip("rewrites docs/assets/niah_compare.png in the repository"),
    # serving
    "longva serve --model $DIR": Serve(),
    "longva serve --model $DIR --allowed-root ~/videos": Serve(),
    'longva serve --model $DIR --host 0.0.0.0 --api-key "$KEY"': Skip(
        "binds every interface; tests/serve checks --api-key on loopback"
    ),
    "curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' -d '{ \"model\":"
    ' "DIR_NAME", "max_tokens": 128, "num_frames": 32, "messages": [{"role": "user", "content": [ {"type":'
    ' "video_url", "video_url": {"url": "talk.mp4"}}, {"type": "text", "text": "What happens in this video?"}]}]}\'':
        Skip("needs the server above; tests/serve sends these requests"),
    # lmms-eval and Video-MME
    "pip install torch==2.13.0": Skip("an install; make test-lmms-eval does it in .venv-lmms"),
    "pip install -c constraints/cpu.txt -e '.[eval]'": Skip("an install; make test-lmms-eval"),
    "pip install --no-deps lmms-eval==0.7.3": Skip("an install; make test-lmms-eval"),
    "lmms-eval --model longva --model_args pretrained=$DIR,conv_template=qwen_1_5,max_frames_num=128 --tasks videomme"
    " --batch_size 1 --log_samples --output_path logs/": Skip("Video-MME data; make test-lmms-eval runs lmms-eval"),
    "longva eval videomme --model $DIR --data data/videomme --frames 8,16,32,64,128,384 --out runs/videomme":
        Skip("the Video-MME data (the next two lines run the same on its synthetic copy)"),
    "longva eval videomme make-synthetic --out data/videomme-synthetic": Run(
        _files("data/videomme-synthetic/videomme/test-00000-of-00001.parquet")
    ),
    "longva eval videomme --model $DIR --data data/videomme-synthetic --frames 8,16,32,64,128,384 --out"
    " runs/videomme-synthetic": Run(_videomme),
    # benchmarks
    "python benchmarks/gpu_scale.py --device cuda --out gpu_scale.json": Skip("a GPU"),
    "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpu_scale.py --tiny": Skip(
        "tests/benchmarks/test_gpu_scale_tiny.py runs it"
    ),
}


def readme_commands() -> list[str]:
    """Every command of README.md's ```bash blocks, in order: comments dropped, whitespace
    collapsed, continuation lines and quoted strings over several lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending} {line}" if pending else line
            if pending.rstrip().endswith("\\"):
                pending = pending.rstrip()[:-1]
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on
                continue
            command = " ".join(re.sub(r"\s+#\s.*$", "", pending).split())
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_every_readme_command_is_in_the_table():
    commands = readme_commands()
    unknown = [c for c in commands if c not in TABLE]
    assert not unknown, f"README commands this test does not know (add them to TABLE): {unknown}"
    stale = [c for c in TABLE if c not in commands]
    assert not stale, f"TABLE entries the README no longer has: {stale}"
    runs = [c for c in commands if isinstance(TABLE[c], Run | Serve)]
    assert any(" --preset toy " in c for c in runs) and any("--preset text-toy" in c for c in runs)


def _make_inputs(ws: Path) -> None:
    """clip.mp4 (a needle frame among the recipe's haystack frames) and two images."""
    frames = list(haystack_pixels(np.random.default_rng(5), 40, 32))
    frames[17] = np.asarray(needle_frame(np.random.default_rng(6), "blue", 32))
    write_video(ws / "clip.mp4", np.stack(frames), fps=8)
    Image.fromarray(frames[17]).save(ws / "a.png")
    Image.fromarray(frames[0]).save(ws / "b.png")
    (ws / "videos").mkdir()


def _run_longva(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A working folder holding the quick recipe's outputs where `make demo` puts its own."""
    ws = tmp_path_factory.mktemp("readme")
    saved_cwd, saved_env = Path.cwd(), dict(os.environ)
    os.chdir(ws)
    os.environ.update(LONGVA_CACHE=str(ws / "cache"), LONGVA_PROGRESS="0")
    try:
        (quick,) = [c for c in readme_commands() if isinstance(TABLE.get(c), Fixture)]
        code, _, err = _run_longva(_substituted(quick, {})[1:] + ["--threads", "1"])
        assert code == 0, err
        _make_inputs(ws)
        yield ws
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _substituted(command: str, variables: dict[str, str]) -> list[str]:
    args = []
    for token in shlex.split(command):
        if token.startswith("$"):
            token = variables[token[1:]]
        elif token.startswith("configs/"):
            token = str(ROOT / token)
        args.append(SUBSTITUTE.get(token, token))
    return args


def _run(command: str, entry: Run, variables: dict[str, str], ws: Path) -> str:
    args = _substituted(command, variables) + list(entry.extra)
    if args[0] == "longva":
        code, stdout, stderr = _run_longva(args[1:])
    else:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ws)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    assert code == 0, f"{command!r} exited {code}: {stderr[-2000:]}"
    return stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(command: str, variables: dict[str, str], ws: Path) -> None:
    port = _free_port()
    args = _substituted(command, variables) + ["--port", str(port)]
    log = ws / f"serve-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "longva.cli", *args[1:]], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ws)
    try:
        deadline, models = time.monotonic() + 120, None
        while models is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).json()
            except httpx.TransportError:
                time.sleep(0.3)
        assert models is not None, f"{command!r} did not answer: {log.read_text(errors='replace')[-2000:]}"
        assert [m["id"] for m in models["data"]] == [Path(variables["DIR"]).name]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text(errors="replace")[-2000:]


def test_readme_commands_run_on_the_quick_recipe_outputs(workspace):
    variables: dict[str, str] = {}
    ran = []
    for command in readme_commands():
        entry = TABLE[command]
        if isinstance(entry, Skip | Fixture):
            continue
        if isinstance(entry, Shell):  # the README's own lookup of the model folders
            proc = subprocess.run(["bash", "-c", f'{command}; printf %s "${entry.name}"'],
                                  capture_output=True, text=True, cwd=workspace, timeout=60)
            assert proc.returncode == 0 and proc.stdout, proc.stderr
            variables[entry.name] = proc.stdout
            continue
        if isinstance(entry, Serve):
            _serve(command, variables, workspace)
        else:
            entry.check(workspace, _run(command, entry, variables, workspace))
        ran.append(command)
    models = json.loads((workspace / "runs/reproduce/seed_0/models.json").read_text())
    assert variables == {"DIR": models["longva"], "LM_DIR": models["s1_long"]}
    assert Path(variables["DIR"]).parent.name.startswith("s2_align-")
    assert Path(variables["LM_DIR"]).parent.name.startswith("s1_long-")
    assert len(ran) == sum(isinstance(e, Run | Serve) for e in TABLE.values())


def test_toy_presets_ask_exactly_what_the_recipe_trains(workspace):
    """Needles, question, answers and prompt tokens of `--preset toy` are the recipe's; the
    text-toy preset reproduces the recipe's own text-NIAH verdicts."""
    recipe = RecipeConfig()
    models = json.loads((workspace / "runs/reproduce/seed_0/models.json").read_text())
    code, _, err = _run_longva(["niah", "--model", models["longva"], "--preset", "toy", "--frames", "8",
                                "--depths", "0", "--synthetic-needles", "8", "--out", "out/preset-check"])
    assert code == 0, err
    task = json.loads((workspace / "out/preset-check/needles/task.json").read_text())
    assert [row["question"] for row in task["items"]] == [recipe.text.question] * 8
    assert [row["answer"] for row in task["items"]] == list(COLOURS) == needle_colours(8)
    size = recipe.model.vision.image_size
    for i, row in enumerate(task["items"]):  # the recipe's needle drawing, at the recipe's size
        drawn = np.asarray(Image.open(workspace / "out/preset-check/needles" / row["image"]))
        assert np.array_equal(drawn, np.asarray(needle_frame(np.random.default_rng([0, 19, i]), row["answer"], size)))
    frame = next(ToyHaystack(seed=3, size=size).frames_from(7))
    assert np.array_equal(frame, haystack_pixels(np.random.default_rng([3, 7]), 1, size)[0])

    # the tokens the CLI's LongVA adapter puts around the haystack are the recipe's prompt
    adapter = load_adapter(models["longva"], "longva")
    from longva.model.processor import LongVAProcessor

    pieces = PromptPieces(LongVAProcessor.from_pretrained(models["longva"]), recipe.text.question, list(COLOURS))
    assert list(adapter.prompt.pre_ids) == pieces.prefix.tolist()
    question = adapter.question_ids(recipe.text.question)
    assert question + list(adapter.prompt.post_ids) == pieces.suffix.tolist()
    for colour in COLOURS:
        assert adapter.question_ids(colour) == pieces.answer_ids[colour].tolist()

    # text-toy on the recipe's text-NIAH grid and seed gives the recipe's verdicts cell for cell
    quick_cfg = json.loads((workspace / "runs/reproduce/seed_0/results.json").read_text())["config"]
    recipe_text = quick_cfg["eval"]["text_niah"]
    grid = ["--lengths", ",".join(map(str, recipe_text["lengths"])),
            "--depths", ",".join(map(str, recipe_text["depths"]))]
    code, _, err = _run_longva(["niah-text", "--model", models["s1_long"], "--preset", "text-toy", *grid,
                                "--samples", str(recipe_text["samples"]), "--seed", "0", "--out", "out/text-check"])
    assert code == 0, err
    ours = _verdicts(workspace / "out/text-check/cells.jsonl")
    stage = [p for p in (workspace / "runs/reproduce/cache").glob("eval_text_niah-*")
             if json.loads((p / "run.json").read_text())["rope_theta"] == quick_cfg["stages"]["s1_long"]["rope_theta"]]
    assert len(stage) == 1, stage
    assert ours == _verdicts(stage[0] / "cells.jsonl") and len(ours) == 8


def test_text_toy_refuses_a_text_haystack_and_distractors(workspace, capsys):
    lm = json.loads((workspace / "runs/reproduce/seed_0/models.json").read_text())["s1_long"]
    (workspace / "book.txt").write_text("A long story. " * 50)
    for extra in (["--haystack", "book.txt"], ["--distractors", "1"]):
        code = main(["niah-text", "--model", lm, "--preset", "text-toy", *extra, "--out", "out/refused"])
        err = capsys.readouterr().err
        assert code == 2 and "--preset text-toy" in err and len(err.strip().splitlines()) == 1, err
    assert not (workspace / "out/refused/cells.jsonl").exists()


def _verdicts(cells: Path) -> dict:
    records = [json.loads(line) for line in cells.read_text().splitlines() if line.strip()]
    return {(r["needle"], r["tokens"], r["depth"]): (r["answer"], r["pred"], r["correct"]) for r in records}
