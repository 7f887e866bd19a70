"""V-NIAH evaluator vs the original's scoring: time, peak memory, agreement.

One tiny Qwen2 (vocab 32000 so the LM head matters, hidden 64, 2 layers), random haystack and
needle embeddings (tokens_per_frame 16), one grid whose longest cell is > 16K tokens. Each
evaluator runs in its own subprocess so its peak RSS (VmHWM) is its own:
- `ours`: trie-ordered cells, one reused KV cache, chunked prefill, logits on the answer span;
- `reference`: the original's way, one full forward per cell with full (L, V) logits.
Ours runs before and after the reference and its times are averaged (load drifts cancel).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/niah_bench.py

Last line: {"speedup", "cpu_speedup", "memory_ratio", "agreement", ...}: speedup = reference /
ours wall time of the scoring loop; cpu_speedup = the same for process CPU time (what to trust
on a shared machine, where other jobs stretch wall time unevenly); memory_ratio = reference /
ours process peak RSS; working_memory_ratio = the same for the peak minus the RSS before scoring.
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
    from longva.niah.vniah import NeedlePrompt, vniah_cells, vniah_sources

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
        sources = vniah_sources(lambda i: emb(i), ids["pre"], ids["post"], hay, needle_emb, needles)
    cells = vniah_cells(grid, needles, TPF, TPF, len(ids["pre"]), len(ids["post"]))
    return lm, cells, sources


def child(role: str, workdir: Path, args) -> None:
    from longva.niah.evaluator import evaluate, order_cells
    from longva.niah.reference import reference_evaluate

    lm, cells, sources = inputs(workdir, args)
    base = rss_kib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    if role == "ours":
        results = evaluate(lm, sources, order_cells(cells), chunk_size=args.chunk_size)
    else:
        results = reference_evaluate(lm, sources, cells)
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


def run_child(role: str, workdir: Path, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", role, "--workdir", str(workdir), *argv]
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
    p.add_argument("--child", choices=["ours", "reference"])
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
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
    ]
    with tempfile.TemporaryDirectory(prefix="niah_bench_") as tmp:
        workdir = Path(tmp)
        build(workdir, args)
        # ours runs before and after the reference: the mean cancels slow drifts of machine load
        first = run_child("ours", workdir, passthrough)
        ref = run_child("reference", workdir, passthrough)
        ours = sandwich(first, run_child("ours", workdir, passthrough))
    report(ours, ref)


def sandwich(a: dict, b: dict) -> dict:
    if a["cells"] != b["cells"]:
        raise SystemExit("two runs of our evaluator disagree: it is not deterministic")
    out = dict(a)
    for key in ("seconds", "cpu_seconds"):
        out[key] = (a[key] + b[key]) / 2
    out["peak_rss_kib"] = max(a["peak_rss_kib"], b["peak_rss_kib"])
    return out


def report(ours: dict, ref: dict) -> None:
    keys = ref["cells"].keys()
    agree = sum(ours["cells"][k][0] == ref["cells"][k][0] for k in keys) / len(keys)
    same_pred = sum(ours["cells"][k][1] == ref["cells"][k][1] for k in keys) / len(keys)
    accuracy = sum(v[0] for v in ref["cells"].values()) / len(keys)
    mib = 1 / 1024
    for r in (ours, ref):
        print(
            f"{r['role']:>9}: {r['seconds']:7.1f} s wall {r['cpu_seconds']:7.1f} s CPU  peak RSS {r['peak_rss_kib'] * mib:7.0f} MiB"
            f" (before scoring {r['base_rss_kib'] * mib:5.0f} MiB)  tokens computed {r['tokens']:,}"
        )
    print(
        f"cells {len(keys)}, longest cell {ref['longest_cell']:,} tokens, accuracy {accuracy:.3f}"
    )
    work = (ref["peak_rss_kib"] - ref["base_rss_kib"]) / max(
        ours["peak_rss_kib"] - ours["base_rss_kib"], 1
    )
    print(
        json.dumps(
            {
                "speedup": round(ref["seconds"] / ours["seconds"], 2),
                "cpu_speedup": round(ref["cpu_seconds"] / ours["cpu_seconds"], 2),
                "memory_ratio": round(ref["peak_rss_kib"] / ours["peak_rss_kib"], 2),
                "working_memory_ratio": round(work, 1),
                "agreement": agree,
                "pred_agreement": same_pred,
                "token_ratio": round(ref["tokens"] / ours["tokens"], 2),
                "cells": len(keys),
                "longest_cell_tokens": ref["longest_cell"],
            }
        )
    )


if __name__ == "__main__":
    main()
