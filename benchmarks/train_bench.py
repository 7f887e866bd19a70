"""Training throughput and memory of the text stage on CPU (tiny Qwen2, vocab 32K).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_bench.py [--quick]

Every configuration runs in its own subprocess (so ru_maxrss / VmHWM is that configuration's
peak) and does 1 warm-up + `--steps` timed optimizer steps (fwd + bwd + AdamW, fp32, 1 thread
per process):
- seq 1k / 4k / 16k with the chunked cross-entropy vs the full (B, L, V) logits cross-entropy;
- context parallelism: 1 process at L vs 2 gloo processes (zigzag ring attention) at 2L.
Last printed line: one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODEL = dict(
    vocab_size=32768,
    hidden_size=128,
    intermediate_size=512,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
HERE = Path(__file__).resolve()


# -- child processes ----------------------------------------------------------------------------
def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tiny_lm():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(**MODEL, tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    return Qwen2ForCausalLM(cfg)


class _FullCE:
    """Reference loss: the LM's own head, full (B, L, V) logits, torch cross-entropy."""

    def __call__(self, model, batch):
        import torch.nn.functional as F

        logits = model.lm(input_ids=batch["input_ids"], position_ids=batch.get("position_ids")).logits  # (B, L, V)
        labels = batch["labels"]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), reduction="sum", ignore_index=-100)
        return loss, (labels != -100).sum()


def _batches(seq: int, n: int):
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(0, MODEL["vocab_size"], (1, seq + 1), generator=g)
        out.append({"input_ids": ids[:, :-1], "labels": ids[:, 1:]})
    return iter(out)


class _Iter:
    def __init__(self, it):
        self.it = it

    def __next__(self):
        return next(self.it)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def child(args) -> None:
    import torch

    from longva.train.distributed.context_parallel import apply_context_parallel
    from longva.train.lm_loss import CausalLMLoss, lm_loss_fn
    from longva.train.optim import OptimizerConfig, make_param_groups
    from longva.train.trainer import Trainer, TrainerConfig
    from longva.utils.distributed import init_parallel

    torch.set_num_threads(1)
    ctx = init_parallel(cp_size=int(os.environ.get("WORLD_SIZE", "1")))
    lm = _tiny_lm()
    if ctx.cp_size > 1:
        apply_context_parallel(lm, ctx.cp_group)
    model = CausalLMLoss(lm, chunk_size=1024)
    rss_built = _vm_hwm_mb()
    loss_fn = _FullCE() if args.loss == "full" else lm_loss_fn
    cfg = TrainerConfig(output_dir="unused", steps=100, progress=False, optimizer=OptimizerConfig(lr=1e-5))
    groups = make_param_groups(model.named_parameters(), 1e-5, 0.1)
    trainer = Trainer(model, loss_fn, _Iter(_batches(args.seq, args.steps + 1)), groups, cfg, ctx=ctx)
    trainer.train_step()  # warm-up
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    peak = torch.tensor([_vm_hwm_mb()])
    ctx.all_reduce_sum(peak)  # only to make every rank finish; the max is taken below
    step_s = sorted(times)[len(times) // 2]
    record = {
        "seq": args.seq,
        "loss": args.loss,
        "ranks": ctx.world,
        "step_s": round(step_s, 3),
        "tokens_per_s": round(args.seq / step_s, 1),
        "peak_rss_mb": round(_vm_hwm_mb(), 1),
        "rss_after_build_mb": round(rss_built, 1),
    }
    print("RESULT " + json.dumps(record), flush=True)


# -- driver --------------------------------------------------------------------------------------
def _run(cmd: list[str], timeout: int = 900) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    records = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not records:
        return [{"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200], "rc": proc.returncode}]
    return records


def single(seq: int, loss: str, steps: int) -> dict:
    return _run([sys.executable, str(HERE), "--child", "--seq", str(seq), "--loss", loss, "--steps", str(steps)])[0]


def two_ranks(seq: int, steps: int) -> dict:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    recs = _run(
        [
            torchrun,
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
            str(HERE),
            "--child",
            "--seq",
            str(seq),
            "--steps",
            str(steps),
        ]
    )
    if "error" in recs[0]:
        return recs[0]
    return {
        **recs[0],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in recs),
        "per_rank_peak_rss_mb": [r["peak_rss_mb"] for r in recs],
    }


def _enough_memory(gib: float) -> bool:
    import psutil

    return psutil.virtual_memory().available > gib * 2**30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--loss", choices=["chunked", "full"], default="chunked")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1k/4k only and a 4k/8k context-parallel pair")
    args = parser.parse_args()
    if args.child:
        return child(args)

    lengths = [1024, 4096] if args.quick else [1024, 4096, 16384]
    results: dict = {"model": MODEL, "threads_per_process": 1, "steps_timed": args.steps, "ce": {}}
    for seq in lengths:
        row = {"chunked": single(seq, "chunked", args.steps)}
        # full logits at 16k: 2 GiB per (L, V) fp32 tensor, several alive at once
        row["full"] = (
            single(seq, "full", args.steps) if seq < 16384 or _enough_memory(12) else {"skipped": "low memory"}
        )
        if "peak_rss_mb" in row["chunked"] and "peak_rss_mb" in row["full"]:
            extra = {k: row[k]["peak_rss_mb"] - row[k]["rss_after_build_mb"] for k in ("chunked", "full")}
            row["activation_mb"] = extra
            row["full_over_chunked_peak_ratio"] = round(row["full"]["peak_rss_mb"] / row["chunked"]["peak_rss_mb"], 2)
            row["full_over_chunked_activation_ratio"] = round(extra["full"] / max(extra["chunked"], 1.0), 2)
        results["ce"][str(seq)] = row
        print(f"seq {seq}: {json.dumps(row)}", flush=True)

    base = 4096 if args.quick else 8192
    cp = {"one_rank_L": single(base, "chunked", args.steps), "one_rank_2L": single(2 * base, "chunked", args.steps),
          "two_ranks_cp_2L": two_ranks(2 * base, args.steps)}
    cp["L"] = base
    results["context_parallel"] = cp
    print(f"context parallel: {json.dumps(cp)}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
