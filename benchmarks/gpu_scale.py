"""Real scale on one GPU: V-NIAH at 3,000 frames with a LongVA-7B-shaped model, measured.

The model has LongVA-7B's shapes and random weights, built from configs directly on the device
in the run's dtype (no download): Qwen2-7B (hidden 3584, 28 layers, 28 query / 4 KV heads, MLP
18944, vocab 152064, RoPE θ 1e9), a CLIP-L/336 tower read at layer -2, an mlp2x_gelu projector
1024 -> 3584 and 2x2 average pooling (144 tokens per frame). Sections, each guarded (an OOM or
an error is recorded in the JSON and the next section runs):

- vision: 3,000 haystack frames + 1 needle frame through tower, projector and pooling in chunks,
  the embeddings kept on the host as the embedding cache keeps them (frames/s, peak memory);
- agreement: a short cell (several prefill chunks, two depths sharing a prefix) scored by our
  evaluator with mask-free and with masked attention and by the original-style full forward;
  answer-span logits compared. The mask-free path is used at scale only if it agrees;
- cell: one V-NIAH cell at 3,000 frames (~432K tokens) with `longva.niah.evaluator.evaluate`
  (chunked prefill, answer-span logits), then a second depth reusing the KV cache of the shared
  prefix: wall time, prefill tokens/s, peak memory vs the weights + KV-cache estimate;
- original: the original's scoring (`longva.niah.reference`: one full forward, full fp32 logits)
  at increasing frame counts until the device runs out of memory (caught, memory freed); our
  evaluator then scores the largest cell that fitted, and the answers are compared;
- chat: `longva.inference.chat` on 32 and 1,000 frames: prefill and decode tokens/s;
- attention: transformers' masked sdpa vs the mask-free path on one mid-length cell;
- cell_flash: the 3,000-frame cell again with flash_attention_2, when `flash_attn` is installed.

    python benchmarks/gpu_scale.py --out gpu_scale.json       # a GPU: 7B shape, bf16
    OMP_NUM_THREADS=1 python benchmarks/gpu_scale.py --tiny   # the same code, tiny shapes, CPU

Runs from a source tree without installing the package (puts `src/` on sys.path) and needs only
torch, transformers, tokenizers, safetensors, numpy and pillow (no PyAV). Random weights: the
cell's answers are not meaningful, the costs are; generation has the stop tokens' LM-head rows
zeroed so every chat generates `max_new_tokens` tokens (as "ignore EOS" in serving benchmarks).
Memory is `torch.cuda.max_memory_allocated` per section on CUDA, the process peak RSS on CPU.
Sections start only while the time budget (`--time-budget`) is not spent. Last printed line: one
JSON object; `--out` gets the same object after every section (atomic writes), so a run killed
at its limit still leaves what it finished.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

SRC = Path(__file__).resolve().parents[1] / "src"
QUESTION = "\nWhat is the colour of the square in the video? Answer with one word."
ANSWER = "red"
GIB = 1 << 30


@dataclass(frozen=True)
class Shape:
    """Model shapes and the sizes of every section."""

    name: str
    lm: dict  # Qwen2Config kwargs
    rope_theta: float
    vision: dict  # CLIPVisionConfig kwargs
    vision_chunk: int  # frames per tower forward
    frames: int  # haystack frames of the big cell
    depths: tuple[float, float]  # two depths: the second reuses the first's prefix
    chunk_size: int  # prefill chunk of the evaluator
    check_frames: int
    check_chunk: int  # small, so the check crosses several chunks
    compare_frames: int
    probe_frames: tuple[int, ...]
    chat_frames: tuple[int, ...]
    max_new_tokens: int
    time_budget: float | None  # seconds; sections do not start after it


def qwen2_7b_shape() -> Shape:
    from longva.model.config import CLIP_L_336

    lm = dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=1 << 19,
        rms_norm_eps=1e-6, tie_word_embeddings=False, use_sliding_window=False,
    )
    return Shape(
        "7b", lm, 1e9, dict(CLIP_L_336), 64, frames=3000, depths=(0.9, 1.0), chunk_size=4096,
        check_frames=16, check_chunk=512, compare_frames=500,
        probe_frames=(200, 400, 800, 900, 1000, 1100, 1200, 1400, 1600, 2000, 2500, 3000),
        chat_frames=(32, 1000), max_new_tokens=64, time_budget=400.0,
    )


def tiny_shape() -> Shape:
    lm = dict(
        vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1 << 16,
        tie_word_embeddings=False, use_sliding_window=False,
    )
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8,
    )
    return Shape(
        "tiny", lm, 1e6, vision, 8, frames=24, depths=(0.9, 1.0), chunk_size=16,
        check_frames=6, check_chunk=8, compare_frames=16, probe_frames=(4, 8, 16, 24),
        chat_frames=(2, 8), max_new_tokens=8, time_budget=None,
    )


# ---- memory and timing ---------------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


class Memory:
    """Peak memory of a section: CUDA allocator peak on a GPU, process peak RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.kind = "cuda_max_memory_allocated" if self.cuda else "process_peak_rss"

    def free(self, collect: bool | None = None) -> None:
        """Drop cached blocks (and garbage cycles: by default on CUDA, where they hold device
        memory), then restart the peak from what is live now. A collection takes ~0.4 s here."""
        if self.cuda if collect is None else collect:
            gc.collect()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
        self.reset_peak()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:  # "5" resets VmHWM to the current RSS (Linux)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak(self) -> int:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated(self.device))
        return _status_kib("VmHWM") * 1024

    def reserved_peak(self) -> int | None:
        return int(torch.cuda.max_memory_reserved(self.device)) if self.cuda else None

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


@dataclass
class Ctx:
    args: argparse.Namespace
    shape: Shape
    device: torch.device
    dtype: torch.dtype
    memory: Memory
    t0: float = field(default_factory=time.perf_counter)
    model: object = None
    processor: object = None
    hay: torch.Tensor | None = None  # (frames + 1, tpf, D) on the host; the last row is the needle
    fast_ok: bool | None = None  # the mask-free attention agreed with the references
    result: dict = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def over_budget(self) -> bool:
        budget = self.args.time_budget
        return budget is not None and self.elapsed() > budget


def log(ctx: Ctx, message: str) -> None:
    print(f"[{ctx.elapsed():7.1f} s] {message}", file=sys.stderr, flush=True)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:300]


def is_oom(error: BaseException) -> bool:
    """The allocator's OOM, or a library's own allocation failure (cuBLAS workspaces)."""
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and ("out of memory" in text or "ALLOC_FAILED" in text)
    )


def guarded(ctx: Ctx, fn: Callable[[], dict]) -> dict:
    """fn() with its OOM or error turned into a record; memory freed either way."""
    failed = True
    try:
        out = {"status": "ok", **fn()}
        failed = False
    except Exception as e:  # a benchmark section must not take the others down
        if is_oom(e):
            out = {"status": "oom", "error": first_line(e), "peak_bytes": ctx.memory.peak()}
        else:
            traceback.print_exc(file=sys.stderr)
            frames = traceback.extract_tb(e.__traceback__)[-3:]
            out = {
                "status": "error",
                "error": f"{type(e).__name__}: {first_line(e)}",
                "where": [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames],
            }
    ctx.memory.free(collect=True if failed else None)  # a traceback keeps its frames' tensors
    return out


def run_section(ctx: Ctx, name: str, fn: Callable[[Ctx], dict], needs: tuple[str, ...] = ()):
    sections = ctx.result["sections"]
    missing = [n for n in needs if sections.get(n, {}).get("status") != "ok"]
    if missing:
        sections[name] = {"status": "skipped", "reason": f"needs section {missing[0]}"}
    elif ctx.over_budget():
        reason = f"time budget {ctx.args.time_budget} s spent"
        sections[name] = {"status": "skipped", "reason": reason}
    else:
        log(ctx, f"{name} ...")
        ctx.memory.free()
        start = time.perf_counter()
        sections[name] = guarded(ctx, lambda: fn(ctx))
        sections[name]["section_s"] = round(time.perf_counter() - start, 3)
    log(ctx, f"{name}: {sections[name]['status']} {sections[name].get('error', '')}")
    save(ctx)


def save(ctx: Ctx) -> None:
    ctx.result["elapsed_s"] = round(ctx.elapsed(), 2)
    if ctx.args.out:
        from longva.utils.io import atomic_write_json

        atomic_write_json(ctx.args.out, ctx.result)


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


# ---- model ---------------------------------------------------------------------------------------


def longva_config(shape: Shape):
    from longva.model.config import (
        EncodingConfig,
        LMConfig,
        LongVAConfig,
        PoolingConfig,
        ProjectorConfig,
        VisionTowerConfig,
    )

    return LongVAConfig(
        vision=VisionTowerConfig(
            hf_config=dict(shape.vision), name_or_path=None, chunk_size=shape.vision_chunk
        ),
        projector=ProjectorConfig(type="mlp2x_gelu"),
        pooling=PoolingConfig(kind="avg", kernel=2),
        encoding=EncodingConfig(scheme="unires"),
        lm=LMConfig(model_type="qwen2", hf_config=dict(shape.lm), rope_theta=shape.rope_theta),
        template="qwen_1_5",
    )


def kv_bytes_per_token(lm_config, dtype: torch.dtype) -> int:
    """K and V of every layer for one position: 2 * layers * kv_heads * head_dim * bytes."""
    heads = lm_config.num_attention_heads
    head_dim = getattr(lm_config, "head_dim", None) or lm_config.hidden_size // heads
    kv_heads = getattr(lm_config, "num_key_value_heads", None) or heads
    size = torch.empty((), dtype=dtype).element_size()
    return 2 * lm_config.num_hidden_layers * kv_heads * head_dim * size


def stop_ids(processor) -> list[int]:
    ids = set(processor.stop_token_ids)
    eos = getattr(processor.tokenizer, "eos_token_id", None)
    if eos is not None:
        ids.add(int(eos))
    return sorted(ids)


def section_build(ctx: Ctx) -> dict:
    from longva.model.modeling_longva import build_model
    from longva.model.processor import LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer

    config = longva_config(ctx.shape)
    torch.manual_seed(0)
    start = time.perf_counter()
    model = build_model(config, ctx.dtype, ctx.device).eval()
    ctx.memory.sync()
    seconds = time.perf_counter() - start
    processor = LongVAProcessor(build_tiny_tokenizer(), config)
    with torch.no_grad():  # random weights: keep generation going to max_new_tokens
        model.language_model.get_output_embeddings().weight[stop_ids(processor)] = 0
    ctx.model, ctx.processor = model, processor
    lm = model.language_model
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return {
        "build_s": round(seconds, 2),
        "params": sum(p.numel() for p in model.parameters()),
        "lm_params": sum(p.numel() for p in lm.parameters()),
        "vision_params": sum(p.numel() for p in model.vision_tower.parameters()),
        "weights_bytes": weights,
        "tokens_per_frame": model.tokens_per_frame,
        "kv_bytes_per_token": kv_bytes_per_token(lm.config, ctx.dtype),
        "attn_implementation": lm.config._attn_implementation,
        "param_device": str(next(model.parameters()).device),
        "param_dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "peak_bytes": ctx.memory.peak(),
    }


def section_vision(ctx: Ctx) -> dict:
    model, frames = ctx.model, ctx.shape.frames + 1  # the haystack and one needle frame
    size, chunk = model.config.vision.image_size, model.config.vision.chunk_size
    hay = torch.empty(frames, model.tokens_per_frame, model.lm_hidden_size, dtype=ctx.dtype)
    generator = torch.Generator(device=ctx.device).manual_seed(1)
    ctx.memory.sync()
    start = time.perf_counter()
    with torch.inference_mode():
        for a in range(0, frames, chunk):
            b = min(frames, a + chunk)
            pixels = torch.randn(b - a, 3, size, size, device=ctx.device, generator=generator)
            hay[a:b] = model.encode_frames(pixels).cpu()  # (c, tpf, D), to the host
    seconds = time.perf_counter() - start
    ctx.hay = hay
    return {
        "frames": frames,
        "chunk_frames": chunk,
        "seconds": round(seconds, 3),
        "frames_per_s": rate(frames, seconds),
        "embeddings_bytes": hay.numel() * hay.element_size(),
        "peak_bytes": ctx.memory.peak(),
        "note": "normalised random pixels; decoding and resizing excluded; embeddings to host",
    }


# ---- V-NIAH cells --------------------------------------------------------------------------------


def vniah_setup(ctx: Ctx, frames: int, depths) -> tuple[list, dict]:
    """V-NIAH cells (one needle, `frames` haystack frames, each depth) and their sources."""
    from longva.niah.adapters.longva import prompt_pieces
    from longva.niah.embedding_cache import FrameStore
    from longva.niah.grid import Grid
    from longva.niah.tasks.builder import build_vniah, single_items
    from longva.niah.tasks.prompts import NeedlePrompt, safe_tokenize

    tokenizer, tpf = ctx.processor.tokenizer, ctx.model.tokens_per_frame
    pre, post = (safe_tokenize(tokenizer, s) for s in prompt_pieces(ctx.model.config.template))
    question, answer = safe_tokenize(tokenizer, QUESTION), safe_tokenize(tokenizer, ANSWER)
    needle = NeedlePrompt("square", tuple(question), tuple(answer), ANSWER)
    store = FrameStore([ctx.hay[: ctx.shape.frames]], frames)
    grid = Grid((frames,), tuple(sorted(depths)))
    return build_vniah(
        grid, single_items([needle]), pre, post, store, [ctx.hay[-1]], ctx.model.embed_text, tpf
    )


def cell_tokens(cell) -> int:
    return cell.prompt_len + len(cell.answer_ids)


def score(ctx: Ctx, cells, sources, chunk: int, fast: bool, keep_logits: bool = False):
    """Our evaluator on `cells` (trie order); a row per cell with its own time and peak."""
    from longva.niah.evaluator import evaluate, order_cells

    rows = []

    def on_result(r) -> None:
        rows.append({
            "depth": r.cell.meta["depth"],
            "frames": r.cell.meta["frames"],
            "tokens": cell_tokens(r.cell),
            "new_tokens": r.new_tokens,
            "reused_tokens": cell_tokens(r.cell) - 1 - r.new_tokens,
            "seconds": round(r.seconds, 3),
            "prefill_tokens_per_s": rate(r.new_tokens, r.seconds),
            "correct": bool(r.correct),
            "peak_bytes": ctx.memory.peak(),
        })
        ctx.memory.reset_peak()  # the next cell's own peak (its kept cache counts again)

    lm = ctx.model.language_model
    results = evaluate(
        lm, sources, order_cells(cells), chunk_size=chunk, on_result=on_result,
        keep_logits=keep_logits, fast_cpu_attention=fast,
    )
    return results, rows


def attention_path(ctx: Ctx, fast: bool) -> str:
    from longva.niah.cpu_attention import supported

    lm = ctx.model.language_model
    implementation = lm.config._attn_implementation
    if fast and supported(lm):
        return "mask_free_lower_right"
    if implementation.startswith("flash"):
        return f"transformers_{implementation}"  # the kernel's causal mask is lower-right
    return f"transformers_{implementation}_masked"


def logit_gap(a, b) -> float:
    """Largest |difference| of the answer-span logits of two lists of CellResults."""
    return max(float((x.logits - y.logits).abs().max()) for x, y in zip(a, b, strict=True))


def section_agreement(ctx: Ctx) -> dict:
    from longva.niah.evaluator import order_cells
    from longva.niah.reference import reference_evaluate

    s = ctx.shape
    cells, sources = vniah_setup(ctx, s.check_frames, (0.5, 1.0))
    fast, _ = score(ctx, cells, sources, s.check_chunk, True, keep_logits=True)
    masked, _ = score(ctx, cells, sources, s.check_chunk, False, keep_logits=True)
    ref = reference_evaluate(ctx.model.language_model, sources, order_cells(cells), True)
    gap_fast, gap_masked = logit_gap(fast, ref), logit_gap(masked, ref)
    scale = max(float(r.logits.abs().max()) for r in ref)
    # Both evaluator paths are exact in real arithmetic; in bf16 each differs from the full
    # forward by rounding. A wrong mask differs by about the logits' own size (a top-left mask
    # on the tiny model: gap 0.61 at scale 0.64), far above either bound.
    ctx.fast_ok = gap_fast <= max(4 * gap_masked, 0.05 * scale)
    same = sum(f.pred_ids == r.pred_ids for f, r in zip(fast, ref, strict=True))
    same_masked = sum(m.pred_ids == r.pred_ids for m, r in zip(masked, ref, strict=True))
    return {
        "frames": s.check_frames,
        "tokens": max(cell_tokens(c) for c in cells),
        "chunk_size": s.check_chunk,
        "cells": len(cells),
        "mask_free_path": attention_path(ctx, True),
        "pred_agreement": same / len(ref),
        "masked_pred_agreement": same_masked / len(ref),
        "max_logit_gap": gap_fast,
        "masked_max_logit_gap": gap_masked,
        "logit_scale": scale,
        "mask_free_ok": ctx.fast_ok,
        "reused_tokens_second_cell": cell_tokens(fast[1].cell) - 1 - fast[1].new_tokens,
    }


def cell_record(ctx: Ctx, rows: list[dict], fast: bool) -> dict:
    """Per-cell rows + the peak against weights + KV cache of the longest cell."""
    build = ctx.result["sections"]["build"]
    tokens = max(r["tokens"] for r in rows)
    estimate = build["weights_bytes"] + build["kv_bytes_per_token"] * (tokens - 1)
    peak = max(r["peak_bytes"] for r in rows)
    first, second = rows[0], rows[-1]
    return {
        "attention": attention_path(ctx, fast),
        "frames": rows[0]["frames"],
        "tokens": tokens,
        "cells": rows,
        "first_cell_s": first["seconds"],
        "first_prefill_tokens_per_s": first["prefill_tokens_per_s"],
        "second_cell_s": second["seconds"],
        "second_new_tokens": second["new_tokens"],
        "second_reused_tokens": second["reused_tokens"],
        "peak_bytes": peak,
        "reserved_peak_bytes": ctx.memory.reserved_peak(),
        "estimate_bytes": estimate,
        "peak_over_estimate": round(peak / estimate, 3),
    }


def section_cell(ctx: Ctx) -> dict:
    s = ctx.shape
    cells, sources = vniah_setup(ctx, s.frames, s.depths)
    fast = ctx.fast_ok is not False  # the check failed: transformers' masked path instead
    _, rows = score(ctx, cells, sources, s.chunk_size, fast)
    return cell_record(ctx, rows, fast)


def section_cell_flash(ctx: Ctx) -> dict:
    if importlib.util.find_spec("flash_attn") is None:
        return {"status": "skipped", "reason": "flash_attn is not installed"}
    lm = ctx.model.language_model
    previous = lm.config._attn_implementation
    lm.set_attn_implementation("flash_attention_2")
    try:
        s = ctx.shape
        cells, sources = vniah_setup(ctx, s.frames, s.depths)
        _, rows = score(ctx, cells, sources, s.chunk_size, fast=True)  # FA2: lower-right itself
        return cell_record(ctx, rows, fast=True)
    finally:
        lm.set_attn_implementation(previous)


# ---- the original's scoring until out of memory --------------------------------------------------


def probe_step(ctx: Ctx, frames: int) -> tuple[dict, tuple | None]:
    """One original-style cell at `frames`: its record, and (cells, sources, result) if it fit."""
    from longva.niah.reference import reference_evaluate

    cells, sources = vniah_setup(ctx, frames, (0.5,))
    tokens = cell_tokens(cells[0])
    vocab = ctx.model.language_model.config.vocab_size
    size = torch.empty((), dtype=ctx.dtype).element_size()
    logits = tokens * vocab * (size + (4 if size != 4 else 0))  # the LM's logits + their fp32 copy
    step = {"frames": frames, "tokens": tokens, "logits_bytes": logits}
    ctx.memory.reset_peak()
    start = time.perf_counter()
    try:
        limit = ctx.args.simulate_oom_above
        if limit is not None and tokens > limit:  # tests: the OOM path without a GPU
            raise torch.OutOfMemoryError(f"simulated: {tokens} tokens > {limit}")
        [result] = reference_evaluate(ctx.model.language_model, sources, cells, keep_logits=True)
    except RuntimeError as e:  # torch.OutOfMemoryError is one
        if not is_oom(e):
            raise
        step.update(ok=False, oom=True, error=first_line(e), peak_bytes=ctx.memory.peak())
        return step, None
    seconds = time.perf_counter() - start
    step.update(ok=True, seconds=round(seconds, 3), tokens_per_s=rate(tokens, seconds))
    step["peak_bytes"] = ctx.memory.peak()
    return step, (cells, sources, result)


def section_original(ctx: Ctx) -> dict:
    steps, best = [], None
    for frames in ctx.shape.probe_frames:
        if frames > ctx.shape.frames:
            break
        if ctx.over_budget():
            steps.append({"frames": frames, "skipped": "time budget spent"})
            break
        step, fitted = probe_step(ctx, frames)
        ctx.memory.free(collect=fitted is None)  # what a failed forward held is released here
        steps.append(step)
        log(ctx, f"  original-style {frames} frames: {'ok' if step['ok'] else 'OOM'}")
        if fitted is None:
            break
        best = (step, fitted)
    out = {"steps": steps, "oom_reached": any(s.get("oom") for s in steps)}
    if best is not None:
        step, (cells, sources, ref) = best
        out.update(max_frames=step["frames"], max_tokens=step["tokens"])
        out["peak_bytes_at_max"] = step["peak_bytes"]
        out["ours_at_max"] = ours_against(ctx, cells, sources, ref)
    return out


def ours_against(ctx: Ctx, cells, sources, ref) -> dict:
    """Our evaluator on the original's largest cell: same answer? its time and peak."""
    fast = ctx.fast_ok is not False
    ctx.memory.free()
    [ours], rows = score(ctx, cells, sources, ctx.shape.chunk_size, fast, keep_logits=True)
    return {
        "same_pred": ours.pred_ids == ref.pred_ids,
        "max_logit_gap": float((ours.logits - ref.logits).abs().max()),
        "seconds": rows[0]["seconds"],
        "peak_bytes": rows[0]["peak_bytes"],
    }


# ---- chat and attention --------------------------------------------------------------------------


def chat_run(ctx: Ctx, frames: int) -> dict:
    import numpy as np

    from longva.inference import chat

    size = ctx.model.config.vision.image_size
    base = np.random.default_rng(frames).integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    video = base[np.arange(frames) % 8]  # (F, S, S, 3) uint8
    ctx.memory.free()
    out = chat(
        ctx.model, ctx.processor, "Describe the video.", video=video,
        max_new_tokens=ctx.shape.max_new_tokens,
    )
    t = out.timings
    return {
        "frames": frames,
        "prompt_tokens": out.prompt_tokens,
        "visual_tokens": out.visual_tokens,
        "new_tokens": out.new_tokens,
        "finish_reason": out.finish_reason,
        "timings_s": {k: round(v, 4) for k, v in t.items()},
        "encode_frames_per_s": rate(frames, t["encode"]),
        "prefill_tokens_per_s": rate(out.prompt_tokens, t["prefill"]),
        "decode_tokens_per_s": rate(out.new_tokens, t["generate"]),
        "peak_bytes": ctx.memory.peak(),
    }


def section_chat(ctx: Ctx) -> dict:
    runs = [guarded(ctx, lambda f=f: chat_run(ctx, f)) for f in ctx.shape.chat_frames]
    return {"runs": runs, "stop_tokens": "suppressed (random weights)"}


def section_attention(ctx: Ctx) -> dict:
    cells, sources = vniah_setup(ctx, ctx.shape.compare_frames, (0.5,))
    out = {"frames": ctx.shape.compare_frames, "tokens": cell_tokens(cells[0])}
    for name, fast in (("masked", False), ("mask_free", True)):
        ctx.memory.free()
        _, [row] = score(ctx, cells, sources, ctx.shape.chunk_size, fast)
        out[name] = {
            "attention": attention_path(ctx, fast),
            "seconds": row["seconds"],
            "prefill_tokens_per_s": row["prefill_tokens_per_s"],
            "peak_bytes": row["peak_bytes"],
        }
    out["speedup"] = round(out["masked"]["seconds"] / max(out["mask_free"]["seconds"], 1e-9), 3)
    out["memory_ratio"] = round(out["masked"]["peak_bytes"] / out["mask_free"]["peak_bytes"], 3)
    out["mask_free_verified"] = ctx.fast_ok
    return out


# ---- report --------------------------------------------------------------------------------------


def summary(sections: dict) -> dict:
    """The numbers the issue asks for, flat (None where a section did not finish)."""
    def get(name, *keys):
        node = sections.get(name, {})
        if node.get("status") != "ok":
            return None
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        return node

    chat_runs = get("chat", "runs") or []
    return {
        "cell_frames": get("cell", "frames"),
        "cell_tokens": get("cell", "tokens"),
        "cell_s": get("cell", "first_cell_s"),
        "cell_prefill_tokens_per_s": get("cell", "first_prefill_tokens_per_s"),
        "second_depth_s": get("cell", "second_cell_s"),
        "second_depth_reused_tokens": get("cell", "second_reused_tokens"),
        "cell_peak_gib": _gib(get("cell", "peak_bytes")),
        "estimate_gib": _gib(get("cell", "estimate_bytes")),
        "peak_over_estimate": get("cell", "peak_over_estimate"),
        "cell_attention": get("cell", "attention"),
        "weights_gib": _gib(get("build", "weights_bytes")),
        "kv_kib_per_token": (get("build", "kv_bytes_per_token") or 0) / 1024,
        "original_max_frames": get("original", "max_frames"),
        "original_max_tokens": get("original", "max_tokens"),
        "original_peak_gib_at_max": _gib(get("original", "peak_bytes_at_max")),
        "original_oom_reached": get("original", "oom_reached"),
        "ours_same_pred_at_original_max": get("original", "ours_at_max", "same_pred"),
        "agreement": get("agreement", "pred_agreement"),
        "mask_free_ok": get("agreement", "mask_free_ok"),
        "vision_frames_per_s": get("vision", "frames_per_s"),
        "chat_decode_tokens_per_s": {
            str(r["frames"]): r["decode_tokens_per_s"] for r in chat_runs if r["status"] == "ok"
        },
        "mask_free_speedup": get("attention", "speedup"),
    }


def _gib(n: int | None) -> float | None:
    return None if n is None else round(n / GIB, 3)


def print_report(result: dict) -> None:
    s = result["summary"]
    lines = [f"{name}: {sec['status']}" for name, sec in result["sections"].items()]
    print("sections: " + ", ".join(lines))
    if s["cell_s"] is not None:
        print(
            f"V-NIAH cell {s['cell_frames']} frames = {s['cell_tokens']:,} tokens: {s['cell_s']} s"
            f" ({s['cell_prefill_tokens_per_s']:,} tok/s, {s['cell_attention']}); second depth"
            f" {s['second_depth_s']} s reusing {s['second_depth_reused_tokens']:,} tokens; peak"
            f" {s['cell_peak_gib']} GiB = {s['peak_over_estimate']} x estimate"
            f" {s['estimate_gib']} GiB (weights + KV cache at {s['kv_kib_per_token']} KiB/token)"
        )
    if s["original_max_tokens"] is not None:
        print(
            f"original-style scoring: largest {s['original_max_frames']} frames ="
            f" {s['original_max_tokens']:,} tokens at {s['original_peak_gib_at_max']} GiB"
            f" (out of memory beyond: {s['original_oom_reached']})"
        )
    print(f"chat decode tokens/s by frames: {s['chat_decode_tokens_per_s']}")


def environment(ctx: Ctx) -> dict:
    import transformers

    env = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(ctx.device),
        "dtype": str(ctx.dtype).replace("torch.", ""),
        "flash_attn_installed": importlib.util.find_spec("flash_attn") is not None,
        "memory_kind": ctx.memory.kind,
    }
    if ctx.device.type == "cuda":
        props = torch.cuda.get_device_properties(ctx.device)
        env.update(
            gpu=props.name,
            gpu_memory_bytes=props.total_memory,
            capability=list(torch.cuda.get_device_capability(ctx.device)),
            flash_sdp_enabled=torch.backends.cuda.flash_sdp_enabled(),
        )
    return env


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=("7b", "tiny"), default="7b")
    p.add_argument("--tiny", action="store_true", help="same as --shape tiny")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    p.add_argument(
        "--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16"
    )
    p.add_argument("--frames", type=int, help="haystack frames of the big cell (shape default)")
    p.add_argument("--chunk-size", type=int, help="evaluator prefill chunk (shape default)")
    p.add_argument("--time-budget", type=float, help="seconds after which no section starts")
    p.add_argument("--out", type=Path, help="also write the JSON here (after every section)")
    p.add_argument(
        "--simulate-oom-above", type=int, metavar="TOKENS",
        help="tests: the original-style probe raises an OOM above this many tokens",
    )
    args = p.parse_args(argv)
    if args.tiny:
        args.shape = "tiny"
    return args


def setup(args: argparse.Namespace) -> Ctx:
    from longva.errors import InputError
    from longva.utils.device import parse_dtype, resolve_device

    for flag, value in (
        ("--frames", args.frames),
        ("--chunk-size", args.chunk_size),
        ("--simulate-oom-above", args.simulate_oom_above),
        ("--time-budget", args.time_budget),
    ):
        if value is not None and value <= 0:
            raise InputError(f"{flag} {value}: expected a number > 0")
    device = resolve_device(args.device)
    shape = tiny_shape() if args.shape == "tiny" else qwen2_7b_shape()
    overrides = {"frames": args.frames, "chunk_size": args.chunk_size}
    shape = replace(shape, **{k: v for k, v in overrides.items() if v is not None})
    if args.time_budget is None:
        args.time_budget = shape.time_budget
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Ctx(args, shape, device, parse_dtype(args.dtype, device), Memory(device))


def main(argv=None) -> int:
    sys.path.insert(0, str(SRC))  # a source tree, not an installed package, on the GPU machine
    from longva.errors import LongVAError

    args = parse_args(argv)
    try:
        ctx = setup(args)
    except LongVAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    ctx.result = {"benchmark": "gpu_scale", "shape": ctx.shape.name, "complete": False}
    ctx.result.update(environment=environment(ctx), sections={})
    run_section(ctx, "build", section_build)
    run_section(ctx, "vision", section_vision, ("build",))
    run_section(ctx, "agreement", section_agreement, ("vision",))
    run_section(ctx, "cell", section_cell, ("vision",))
    run_section(ctx, "original", section_original, ("vision",))
    run_section(ctx, "chat", section_chat, ("build",))
    run_section(ctx, "attention", section_attention, ("vision",))
    run_section(ctx, "cell_flash", section_cell_flash, ("vision",))
    ctx.result["summary"] = summary(ctx.result["sections"])
    ctx.result["complete"] = True
    save(ctx)
    print_report(ctx.result)
    print(json.dumps(ctx.result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
