"""Helpers of the lmms-eval suite: a tiny model folder and a real lmms-eval CLI run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from longva.model import LongVAForCausalLM, LongVAProcessor
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

MANIFEST_WARNING = "Failed to load model entry-point manifests"


def save_tiny_model(path: Path, seed: int = 0) -> Path:
    """Weights ~ N(0, 0.3): answers vary token to token (the default init repeats one token)."""
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    torch.manual_seed(seed)
    model = LongVAForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.language_model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    model.save_pretrained(path, LongVAProcessor(tok, cfg))
    return path


@dataclass
class LmmsRun:
    output: str  # stdout + stderr
    results: dict | None  # the <date>_results.json, None when lmms-eval wrote none
    samples: dict[str, list[dict]] = field(default_factory=dict)  # task -> logged samples


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_lmms_eval(
    workdir: Path, model: str, model_args: str, tasks: str, include: Path, *extra: str
) -> LmmsRun:
    out = workdir / "lmms_out"
    cmd = [
        sys.executable,
        "-m",
        "lmms_eval",
        "eval",
        "--model",
        model,
        "--model_args",
        model_args,
        "--tasks",
        tasks,
        "--include_path",
        str(include),
        "--device",
        "cpu",
        "--batch_size",
        "1",
        "--output_path",
        str(out),
        "--log_samples",
        *extra,
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "HF_HOME": str(workdir / "hf_home"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)
    (workdir / "lmms_eval_output.txt").write_text(
        proc.stdout + proc.stderr
    )  # for debugging a failure
    found = sorted(out.glob("**/*_results.json"))
    results = json.loads(found[-1].read_text()) if found else None
    samples = {}
    for path in sorted(out.glob("**/*_samples_*.jsonl")):
        task = path.stem.split("_samples_", 1)[1]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return LmmsRun(proc.stdout + proc.stderr, results, samples)
