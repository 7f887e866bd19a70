"""`longva niah run`: any task family on any adapter, from options to results.

Order of work, so bad input fails in a second and before anything is written: mode, task and
grid spec -> a needle folder (loaded) -> haystack length -> model type (flag or config.json) ->
model -> synthetic needles (generated once into <out>/needles) -> frame size -> embeddings (cached) -> cells
(`tasks.builder.build_vniah`) -> evaluation (`grid_run.run_plan`) -> summary. The original
single-needle LongVA run keeps its cells, numbers and run.json. With `--preset toy` a
synthetic haystack and synthetic single needles are the toy recipe's (`niah.toy`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from longva.errors import InputError
from longva.model.rope import set_rope_theta
from longva.niah import toy
from longva.niah.adapters import check_model_type, detect_model_type, load_adapter
from longva.niah.embedding_cache import (
    EmbeddingCache,
    default_cache_dir,
    file_fingerprint,
    weights_fingerprint,
)
from longva.niah.evaluator import GenerateConfig
from longva.niah.grid import make_grid
from longva.niah.grid_run import RunPlan, run_plan
from longva.niah.haystack import check_length, open_haystack
from longva.niah.layout import VNIAH
from longva.niah.tasks import family, generate_task, load_task
from longva.niah.tasks.builder import build_vniah
from longva.niah.tasks.prompts import SCORING, asked, safe_tokenize, tokenize_items
from longva.niah.tasks.spec import TaskSet
from longva.niah.tasks.summary import summarize_tasks
from longva.niah.visuals import embed_haystack, embed_visuals, first_frame_hw
from longva.utils.device import parse_dtype, resolve_device
from longva.utils.distributed import barrier, init_parallel, world
from longva.utils.io import atomic_write_json, atomic_write_text


@dataclass
class VNIAHOptions:
    model: Path
    out: Path
    haystack: str = "synthetic"  # a video path, a frame folder, or "synthetic"
    needles: str = "synthetic"  # a needle folder or "synthetic"
    frames: str | None = None  # grid spec; None = the preset's
    depths: str | None = None
    preset: str = "original"
    mode: str = "exact"  # exact | generate | mc
    rope_theta: float | None = None
    chunk_size: int = 1024
    cache_dir: Path | None = None
    fps: float = 1.0
    haystack_frames: int | None = None  # sample N frames uniformly instead of fps
    synthetic: dict = field(default_factory=dict)  # SyntheticHaystack options
    needle_options: dict = field(default_factory=dict)  # generate_needles options (single)
    max_new_tokens: int = 16
    dtype: str | None = None
    device: str = "cpu"
    max_cells: int | None = None
    model_type: str = "auto"  # or one of adapters.MODEL_TYPES
    task: str = "single"  # one of tasks.TASKS
    task_options: dict = field(default_factory=dict)  # the family generator's options
    label: str | None = None  # the model's name in comparisons (default: the folder name)


def run_vniah(opts: VNIAHOptions) -> dict | None:
    """Run (or resume) a V-NIAH task; rank 0 returns the summary."""
    if opts.mode not in SCORING:
        raise InputError(f"--mode {opts.mode!r} is unknown; expected one of {', '.join(SCORING)}")
    family(opts.task)  # an unknown task fails here
    if opts.model_type not in (None, "auto"):
        check_model_type(opts.model_type)
    grid = make_grid(opts.frames, opts.depths, opts.preset, "--frames")
    init_parallel()
    rank, _ = world()
    given = None if opts.needles == "synthetic" else load_task(opts.needles, opts.task)  # reads only
    synthetic = {k: v for k, v in opts.synthetic.items() if v is not None}
    toy_haystack = opts.preset == toy.VNIAH_PRESET and opts.haystack == "synthetic"
    haystack = None if toy_haystack else open_haystack(
        opts.haystack, fps=opts.fps, num_frames=opts.haystack_frames, **synthetic
    )
    if haystack is not None:
        check_length(haystack, grid.max_length)
    model_type = (
        detect_model_type(opts.model) if opts.model_type in (None, "auto") else opts.model_type
    )
    if toy_haystack:  # the recipe's frames, endless, at the tower's size
        haystack = toy.ToyHaystack(synthetic.get("seed", 0), toy.frame_size(opts.model, model_type))

    adapter = _load(opts, model_type)
    # synthetic needles are written into --out only once everything else is checked
    tasks = given if given is not None else _tasks(opts, rank, model_type)
    adapter.fit_frames(first_frame_hw(haystack))
    cache = EmbeddingCache(opts.cache_dir or default_cache_dir())
    hay, visuals = _embeddings_once(adapter, haystack, tasks, grid, cache, rank, opts.fps)

    answer_ids = lambda text: safe_tokenize(adapter.tokenizer, text)  # noqa: E731
    items = tokenize_items(tasks, adapter.question_ids, answer_ids, opts.mode)
    cells, sources = build_vniah(
        grid,
        items,
        adapter.prompt.pre_ids,
        adapter.prompt.post_ids,
        hay,
        visuals,
        adapter.embed_text,
        adapter.tokens_per_unit,
        adapter.frames_per_unit,
        adapter.prompt.tail,
    )
    settings = _settings(opts, model_type, adapter, haystack, tasks)
    if rank == 0:
        _write_meta(opts, model_type)
    mode = "generate" if opts.mode == "generate" else "exact"
    gen = GenerateConfig(adapter.embed_text, adapter.decode, adapter.stop_ids, opts.max_new_tokens)
    per_point = len(cells) // len(grid.points())
    title = None if _legacy(opts, model_type) else f"{opts.label or opts.model.name} · {opts.task}"
    plan = RunPlan(
        lm=adapter.lm,
        sources=sources,
        cells=cells,
        grid=grid,
        n_needles=per_point,
        layout=VNIAH,
        out_dir=opts.out,
        settings=settings,
        mode=mode,
        chunk_size=opts.chunk_size,
        generate=gen if mode == "generate" else None,
        decode=adapter.decode,
        max_cells=opts.max_cells,
        position_fn=adapter.position_fn(sources),
        summarize=lambda store: summarize_tasks(store, grid, per_point, title),
    )
    return run_plan(plan, "V-NIAH" if opts.task == "single" else f"V-NIAH {opts.task}")


def _load(opts, model_type: str):
    device = resolve_device(opts.device)
    dtype = parse_dtype(opts.dtype or "auto", device)
    adapter = load_adapter(opts.model, model_type, dtype, device, opts.fps)
    if opts.rope_theta is not None:
        set_rope_theta(adapter.lm, opts.rope_theta)
    return adapter


def _tasks(opts, rank: int, model_type: str) -> TaskSet:
    """The needle folder, or synthetic needles written once into <out>/needles (with `--preset
    toy` and the single task: the recipe's colour squares, question and answers)."""
    if opts.needles != "synthetic":
        return load_task(opts.needles, opts.task)
    folder = opts.out / "needles"
    toy_needles = opts.preset == toy.VNIAH_PRESET and opts.task == "single"
    if toy_needles:
        seed = opts.synthetic.get("seed") or 0
        options = {"preset": toy.VNIAH_PRESET, "n": opts.needle_options.get("n", 5), "seed": seed,
                   "size": toy.frame_size(opts.model, model_type)}
    elif opts.task == "single":
        options = opts.needle_options
    else:
        options = {"task": opts.task, **opts.task_options}
    params = json.dumps(options, sort_keys=True, default=list)
    made = folder / "generator.json"
    if rank == 0 and not made.exists():
        if toy_needles:
            toy.write_needles(folder, options["n"], options["size"], options["seed"])
        else:
            generate_task(opts.task, folder, **{k: v for k, v in options.items() if k != "task"})
        atomic_write_text(made, params)
    barrier()
    if made.read_text() != params:
        raise InputError(
            f"--out {str(opts.out)!r} holds synthetic needles made with other options"
            f" ({made.read_text()}); expected a new --out or the same needle options"
        )
    return load_task(folder, opts.task)


def _embeddings_once(adapter, haystack, tasks: TaskSet, grid, cache, rank: int, fps: float):
    """Rank 0 encodes (and caches) first; the other ranks then only read the cache."""
    if rank != 0:
        barrier()
    units = grid.max_length // adapter.frames_per_unit
    out = (
        embed_haystack(adapter, haystack, units, cache),
        embed_visuals(adapter, tasks.visuals, cache, fps),
    )
    if rank == 0:
        barrier()
    return out


def _legacy(opts, model_type: str) -> bool:
    """The original run (LongVA, one needle, exact/generate): run.json as it always was."""
    return model_type == "longva" and opts.task == "single" and opts.mode != "mc"


def _settings(opts, model_type: str, adapter, haystack, tasks: TaskSet) -> dict:
    needles = [
        file_fingerprint(tasks.visuals[item.inserts[0].visual]) + ":" + prompt + "=" + answer
        for item in tasks.items
        for q in item.questions
        for prompt, answer, _ in asked(q, opts.mode)
    ]
    settings = {
        "benchmark": "v-niah",
        "model": weights_fingerprint(opts.model),
        "haystack": haystack.identity(),
        "needles": needles,
        "mode": opts.mode,
        "rope_theta": opts.rope_theta,
        "template": adapter.settings.get("template", adapter.family),
    }
    if not _legacy(opts, model_type):
        layout = [[[i.visual, i.offset, i.at] for i in item.inserts] for item in tasks.items]
        visuals = [file_fingerprint(p) for p in tasks.visuals]
        settings.update(
            task=opts.task,
            model_type=model_type,
            layout=layout,
            visuals=visuals,
            adapter=adapter.settings,
        )
    return settings


def _write_meta(opts, model_type: str) -> None:
    """What `longva niah compare` labels a run with (not part of the resume check)."""
    atomic_write_json(
        Path(opts.out) / "meta.json",
        {
            "label": opts.label or Path(opts.model).name,
            "model_type": model_type,
            "task": opts.task,
            "mode": opts.mode,
        },
    )
