"""V-NIAH evaluator vs the original's scoring: time, peak memory, agreement, three cases.

- `single` (the original V-NIAH): one tiny Qwen2 (vocab 32000 so the LM head matters, hidden
  64, 2 layers), random haystack and needle embeddings (tokens_per_frame 16), one grid whose
  longest cell is > 16K tokens;
- `multi`: the same model and haystack, the multi-needle task (3 needles per video, each asked:
  3 cells share every video);
- `adapter`: a tiny random Qwen2-VL (transformers' class, vocab 32000) behind its adapter:
  real frames through its vision encoder (2-frame temporal patches), 3-D M-RoPE positions, the
  multi-needle task. Besides the reference (the original's scoring on the same embeddings and
  positions), every cell also goes through the model's own `forward` on token ids + pixels
  (`native_agreement`).
Each evaluator runs in its own subprocess so its peak RSS (VmHWM) is its own:
- `ours`: trie-ordered cells, one reused KV cache, chunked prefill, logits on the answer span;
- `reference`: the original's way, one full forward per cell with full (L, V) logits.
Ours runs before and after the reference and its times are averaged (load drifts cancel).
Answers are the model's greedy answers on the shortest cells, so verdicts are a mix.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/niah_bench.py [--cases single,multi,adapter]

Last line: {"speedup", "cpu_speedup", "memory_ratio", "agreement", ..., "cases": {...}}: the
top-level numbers are the single case's (as before), `agreement` / `pred_agreement` the minimum
over all cases; speedup = reference / ours wall time of the scoring loop; cpu_speedup = the same
for process CPU time (what to trust on a shared machine, where other jobs stretch wall time
unevenly); memory_ratio = reference / ours process peak RSS; working_memory_ratio = the same for
the peak minus the RSS before scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

TPF, DIM = 16, 64


def rss_kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def build(workdir: Path, args) -> None:
    """Model, embeddings and token ids on disk; answers = greedy on the shortest cell (a mix)."""
    from safetensors.torch import save_file
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=args.vocab,
        hidden_size=DIM,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1 << 17,
        initializer_range=0.1,
        tie_word_embeddings=False,
    )
    Qwen2ForCausalLM(cfg).save_pretrained(workdir / "model")
    frames = max(int(x) for x in _lengths(args.frames))
    save_file({"embeddings": torch.randn(frames, TPF, DIM)}, str(workdir / "haystack.safetensors"))
    save_file(
        {"embeddings": torch.randn(args.needles, TPF, DIM)}, str(workdir / "needles.safetensors")
    )
    g = torch.Generator().manual_seed(1)
    ids = {
        "pre": torch.randint(0, args.vocab, (20,), generator=g).tolist(),
        "post": torch.randint(0, args.vocab, (6,), generator=g).tolist(),
        "questions": [
            torch.randint(0, args.vocab, (12,), generator=g).tolist() for _ in range(args.needles)
        ],
        "answers": [[0, 0] for _ in range(args.needles)],
    }
    (workdir / "ids.json").write_text(json.dumps(ids))
    ids["answers"] = _greedy_answers(workdir, args)
    (workdir / "ids.json").write_text(json.dumps(ids))


def _greedy_answers(workdir: Path, args) -> list[list[int]]:
    from longva.niah.evaluator import GenerateConfig, evaluate

    lm, cells, sources = inputs(workdir, args, lengths=str(min(_lengths(args.frames))), depths="0")
    emb = lm.get_input_embeddings()
    gen = GenerateConfig(lambda i: emb(i), decode=str, max_new_tokens=2)
    return [r.pred_ids for r in evaluate(lm, sources, cells, mode="generate", generate=gen)]


def _lengths(spec: str):
    from longva.niah.grid import parse_lengths

    return parse_lengths(spec)


def inputs(workdir: Path, args, lengths: str | None = None, depths: str | None = None):
    from safetensors.torch import load_file
    from transformers import Qwen2ForCausalLM

    from longva.niah.embedding_cache import FrameStore
    from longva.niah.grid import Grid, parse_depths, parse_lengths
    from longva.niah.tasks.builder import build_vniah, single_items
    from longva.niah.tasks.prompts import NeedlePrompt

    lm = Qwen2ForCausalLM.from_pretrained(str(workdir / "model")).eval()
    ids = json.loads((workdir / "ids.json").read_text())
    hay = FrameStore.from_tensor(
        load_file(str(workdir / "haystack.safetensors"))["embeddings"]
    )  # mmap
    needle_emb = load_file(str(workdir / "needles.safetensors"))["embeddings"]
    needles = [
        NeedlePrompt(f"n{i}", tuple(q), tuple(a))
        for i, (q, a) in enumerate(zip(ids["questions"], ids["answers"], strict=True))
    ]
    grid = Grid(parse_lengths(lengths or args.frames), parse_depths(depths or args.depths))
    emb = lm.get_input_embeddings()
    with torch.no_grad():
        cells, sources = build_vniah(
            grid, single_items(needles), ids["pre"], ids["post"], hay, list(needle_emb),
            lambda i: emb(i), TPF,
        )
    return lm, cells, sources


MULTI_K = 3  # needles per video in the multi and adapter cases


def multi_items(ids: dict):
    """Two videos of MULTI_K needles each (needles 0..K-1 and 1..K), every needle asked."""
    from longva.niah.tasks.prompts import ItemPrompt, Query
    from longva.niah.tasks.spec import Insert

    items = []
    for i in range(2):
        vis = [i + j for j in range(MULTI_K)]
        inserts = tuple(Insert(v, j / MULTI_K) for j, v in enumerate(vis))
        queries = tuple(Query(tuple(ids["questions"][v]), (0, 0)) for v in vis)
        items.append(ItemPrompt(f"m{i}", inserts, queries))
    return items


def build_multi(workdir: Path, args) -> None:
    """Needles and questions of the multi case; answers = greedy on the shortest cells."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(2)
    n = MULTI_K + 1
    save_file(
        {"embeddings": torch.randn(n, TPF, DIM, generator=g)},
        str(workdir / "multi_needles.safetensors"),
    )
    questions = [torch.randint(0, args.vocab, (12,), generator=g).tolist() for _ in range(n)]
    (workdir / "multi_ids.json").write_text(json.dumps({"questions": questions}))
    lm, cells, sources, _ = inputs_multi(workdir, args, str(min(_lengths(args.frames))), "0")
    answers = _greedy(lm, sources, cells, lm.get_input_embeddings(), None)
    (workdir / "multi_answers.json").write_text(json.dumps(answers))


def inputs_multi(workdir: Path, args, lengths: str | None = None, depths: str | None = None):
    from safetensors.torch import load_file
    from transformers import Qwen2ForCausalLM

    from longva.niah.embedding_cache import FrameStore
    from longva.niah.grid import Grid, parse_depths, parse_lengths
    from longva.niah.tasks.builder import build_vniah

    lm = Qwen2ForCausalLM.from_pretrained(str(workdir / "model")).eval()
    ids = json.loads((workdir / "ids.json").read_text())
    multi = json.loads((workdir / "multi_ids.json").read_text())
    hay = FrameStore.from_tensor(load_file(str(workdir / "haystack.safetensors"))["embeddings"])
    needle_emb = load_file(str(workdir / "multi_needles.safetensors"))["embeddings"]
    grid = Grid(parse_lengths(lengths or args.frames), parse_depths(depths or args.depths))
    emb = lm.get_input_embeddings()
    with torch.no_grad():
        cells, sources = build_vniah(
            grid,
            multi_items(multi),
            ids["pre"],
            ids["post"],
            hay,
            list(needle_emb),
            lambda i: emb(i),
            TPF,
        )
    answers = workdir / "multi_answers.json"
    if answers.exists():
        cells = _set_answers(lambda i: emb(i), cells, sources, json.loads(answers.read_text()))
    return lm, cells, sources, None


def _adapter_case(workdir: Path, args, lengths: str | None = None, depths: str | None = None):
    """(adapter, case) of the tiny Qwen2-VL on the multi-needle task."""
    import numpy as np
    from safetensors.torch import load_file

    from longva.niah.adapters import load_adapter
    from longva.niah.adapters.case import build_case
    from longva.niah.grid import Grid, parse_depths, parse_lengths
    from longva.niah.tasks.spec import Insert, Question, TaskItem, TaskSet

    adapter = load_adapter(workdir / "qwen", "qwen2_vl")
    grid = Grid(parse_lengths(lengths or args.adapter_frames), parse_depths(depths or args.depths))
    rng = np.random.default_rng(0)
    hay = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(grid.max_length)]
    needles = [[rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)] for _ in range(MULTI_K + 1)]
    items = []
    for i in range(2):
        vis = [(i + j) % len(needles) for j in range(MULTI_K)]
        qs = tuple(Question(f"\nWhat is shown in needle {v}?", "x") for v in vis)
        items.append(
            TaskItem(f"m{i}", tuple(Insert(v, j / MULTI_K) for j, v in enumerate(vis)), qs)
        )
    tasks = TaskSet("multi", tuple(f"{v}.png" for v in range(len(needles))), tuple(items))
    embeddings = None
    if (workdir / "qwen_emb.safetensors").exists():
        saved = load_file(str(workdir / "qwen_emb.safetensors"))
        embeddings = (
            saved["hay"][: grid.max_length // 2],
            [saved[f"needle{v}"] for v in range(len(needles))],
        )
    case = build_case(adapter, tasks, grid, hay, needles, embeddings=embeddings)
    answers = workdir / "qwen_answers.json"
    if answers.exists():
        answers = json.loads(answers.read_text())
        case.cells = _set_answers(adapter.embed_text, case.cells, case.sources, answers)
        case.raw.update({f"answer:{c}": ids for c, ids in answers.items()})
    return adapter, case


def _set_answers(embed, cells, sources, answers: dict) -> list:
    """Query c answers with `answers[c]` (token ids) in every cell."""
    from dataclasses import replace

    from longva.niah.sequence import text_source

    with torch.no_grad():
        for c, ids in answers.items():
            sources[f"answer:{c}"] = text_source(ids, embed)
    return [replace(cell, answer_ids=tuple(answers[str(cell.key[0])])) for cell in cells]


def inputs_adapter(workdir: Path, args):
    adapter, case = _adapter_case(workdir, args)
    return adapter.lm, case.cells, case.sources, adapter.position_fn(case.sources)


def build_adapter(workdir: Path, args) -> None:
    """The tiny Qwen2-VL folder, its cached embeddings, greedy answers on the shortest cells."""
    from safetensors.torch import save_file

    from longva.niah.adapters.case import encode_case
    from longva.niah.adapters.tiny import save_tiny

    save_tiny(workdir / "qwen", "qwen2_vl", vocab=args.vocab)
    adapter, case = _adapter_case(workdir, args)
    needles = [case.raw[f"needle:{v}"] for v in range(MULTI_K + 1)]
    hay, visuals = encode_case(adapter, case.raw["hay"], needles)
    save_file(
        {"hay": hay, **{f"needle{v}": x for v, x in enumerate(visuals)}},
        str(workdir / "qwen_emb.safetensors"),
    )
    shortest = str(min(_lengths(args.adapter_frames)))
    adapter, case = _adapter_case(workdir, args, lengths=shortest, depths="0")
    answers = _greedy(
        adapter.lm, case.sources, case.cells, adapter.embed_text, adapter.position_fn(case.sources)
    )
    (workdir / "qwen_answers.json").write_text(json.dumps(answers))


def _greedy(lm, sources, cells, embed, position_fn) -> dict:
    """Query index -> the model's 2-token greedy answer on these cells."""
    from longva.niah.evaluator import GenerateConfig, evaluate

    gen = GenerateConfig(lambda i: embed(i), decode=str, max_new_tokens=2)
    results = evaluate(lm, sources, cells, mode="generate", generate=gen, position_fn=position_fn)
    return {str(r.cell.key[0]): r.pred_ids for r in results}


def case_inputs(case: str, workdir: Path, args):
    if case == "single":
        return (*inputs(workdir, args), None)
    if case == "multi":
        return inputs_multi(workdir, args)
    return inputs_adapter(workdir, args)


def child(role: str, workdir: Path, args) -> None:
    from longva.niah.evaluator import evaluate, order_cells
    from longva.niah.reference import reference_evaluate

    if role == "native":
        from longva.niah.adapters.native import native_evaluate

        adapter, case = _adapter_case(workdir, args)
        lm, cells, sources, positions = adapter.lm, case.cells, case.sources, None
    else:
        lm, cells, sources, positions = case_inputs(args.case, workdir, args)
    base = rss_kib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    if role == "ours":
        results = evaluate(
            lm, sources, order_cells(cells), chunk_size=args.chunk_size, position_fn=positions
        )
    elif role == "native":
        results = native_evaluate(adapter, cells, sources, case.raw)
    else:
        results = reference_evaluate(lm, sources, cells, position_fn=positions)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "role": role,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_kib": rss_kib("VmHWM"),
        "base_rss_kib": base,
        "tokens": sum(r.new_tokens for r in results),
        "longest_cell": max(r.cell.prompt_len + len(r.cell.answer_ids) for r in results),
        "cells": {json.dumps(r.cell.key): [r.correct, r.pred_ids] for r in results},
    }
    print(json.dumps(out))


def run_child(role: str, workdir: Path, argv: list[str], case: str = "single") -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        role,
        "--case",
        case,
        "--workdir",
        str(workdir),
        *argv,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{role} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", default="256:1024:256")
    p.add_argument("--depths", default="0:1:0.5")
    p.add_argument("--needles", type=int, default=2)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--adapter-frames", default="256:768:256", help="adapter case frame counts")
    p.add_argument("--cases", default="single,multi,adapter")
    p.add_argument("--child", choices=["ours", "reference", "native"])
    p.add_argument("--case", default="single", choices=["single", "multi", "adapter"])
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars between the numbers
    if args.child:
        child(args.child, args.workdir, args)
        return
    passthrough = [
        "--frames",
        args.frames,
        "--depths",
        args.depths,
        "--needles",
        str(args.needles),
        "--vocab",
        str(args.vocab),
        "--chunk-size",
        str(args.chunk_size),
        "--adapter-frames",
        args.adapter_frames,
    ]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    summaries = {}
    with tempfile.TemporaryDirectory(prefix="niah_bench_") as tmp:
        workdir = Path(tmp)
        build(workdir, args)
        if "multi" in cases:
            build_multi(workdir, args)
        if "adapter" in cases:
            build_adapter(workdir, args)
        for case in cases:
            # ours runs before and after the reference: the mean cancels slow drifts of load
            first = run_child("ours", workdir, passthrough, case)
            ref = run_child("reference", workdir, passthrough, case)
            ours = sandwich(first, run_child("ours", workdir, passthrough, case))
            native = run_child("native", workdir, passthrough, case) if case == "adapter" else None
            summaries[case] = report(ours, ref, case, native)
    final = dict(summaries.get("single", next(iter(summaries.values()))))
    final["agreement"] = min(v["agreement"] for v in summaries.values())
    final["pred_agreement"] = min(v["pred_agreement"] for v in summaries.values())
    final["cases"] = summaries
    print(json.dumps(final))


def sandwich(a: dict, b: dict) -> dict:
    if a["cells"] != b["cells"]:
        raise SystemExit("two runs of our evaluator disagree: it is not deterministic")
    out = dict(a)
    for key in ("seconds", "cpu_seconds"):
        out[key] = (a[key] + b[key]) / 2
    out["peak_rss_kib"] = max(a["peak_rss_kib"], b["peak_rss_kib"])
    return out


def report(ours: dict, ref: dict, case: str = "single", native: dict | None = None) -> dict:
    keys = ref["cells"].keys()
    agree = sum(ours["cells"][k][0] == ref["cells"][k][0] for k in keys) / len(keys)
    same_pred = sum(ours["cells"][k][1] == ref["cells"][k][1] for k in keys) / len(keys)
    accuracy = sum(v[0] for v in ref["cells"].values()) / len(keys)
    mib = 1 / 1024
    print(f"[{case}]")
    for r in (ours, ref):
        print(
            f"{r['role']:>9}: {r['seconds']:7.1f} s wall {r['cpu_seconds']:7.1f} s CPU  peak RSS "
            f"{r['peak_rss_kib'] * mib:7.0f} MiB"
            f" (before scoring {r['base_rss_kib'] * mib:5.0f} MiB)  tokens computed {r['tokens']:,}"
        )
    print(
        f"cells {len(keys)}, longest cell {ref['longest_cell']:,} tokens, accuracy {accuracy:.3f}"
    )
    work = (ref["peak_rss_kib"] - ref["base_rss_kib"]) / max(
        ours["peak_rss_kib"] - ours["base_rss_kib"], 1
    )
    out = {
        "speedup": round(ref["seconds"] / ours["seconds"], 2),
        "cpu_speedup": round(ref["cpu_seconds"] / ours["cpu_seconds"], 2),
        "memory_ratio": round(ref["peak_rss_kib"] / ours["peak_rss_kib"], 2),
        "working_memory_ratio": round(work, 1),
        "agreement": agree,
        "pred_agreement": same_pred,
        "token_ratio": round(ref["tokens"] / ours["tokens"], 2),
        "cells": len(keys),
        "longest_cell_tokens": ref["longest_cell"],
        "accuracy": round(accuracy, 3),
    }
    if native is not None:  # the model's own forward on token ids + pixels, cell by cell
        out["native_agreement"] = sum(
            ours["cells"][k][0] == native["cells"][k][0] for k in keys
        ) / len(keys)
        out["native_pred_agreement"] = sum(
            ours["cells"][k][1] == native["cells"][k][1] for k in keys
        ) / len(keys)
        out["agreement"] = min(out["agreement"], out["native_agreement"])
        out["pred_agreement"] = min(out["pred_agreement"], out["native_pred_agreement"])
        print(
            f"   native: {native['seconds']:7.1f} s wall"
            " (the model's forward on ids + pixels, vision included)"
        )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
