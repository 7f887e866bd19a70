"""The recipe's evaluations: thin callers of the NIAH builders of `longva.niah`.

- V-NIAH: the toy haystack (muted procedural frames) with colour-square needles, the question
  of the alignment data, exact teacher-forced scoring (`niah.tasks.builder.build_vniah` on
  single-needle items, a FrameStore haystack);
- text NIAH: the same colour-word retrieval the LM was trained on, in a haystack of filler
  tokens (x axis: haystack tokens; `niah.text_niah.text_cells`, as `longva niah-text`);
- video-QA proxy: a synthetic long video with a coloured *event* (a run of needle frames),
  N frames sampled uniformly as Video-MME evaluations do, 4-option multiple choice scored by the
  answer log-likelihood. A proxy for Video-MME, never reported as Video-MME.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from longva.data.toy.colours import (
    COLOURS,
    PromptPieces,
    TextRetrievalTask,
    haystack_frame,
    needle_colours,
    needle_frame,
)
from longva.model.rope import get_rope_theta, with_rope_theta
from longva.model.visual_layout import with_frame_markers
from longva.niah.embedding_cache import FrameStore
from longva.niah.grid import Grid
from longva.niah.grid_run import RunPlan, run_plan
from longva.niah.layout import TEXT, VNIAH
from longva.niah.tasks.builder import build_vniah, single_items
from longva.niah.tasks.prompts import NeedlePrompt
from longva.niah.toy import colour_text_inputs, question_and_post
from longva.niah.visual_attention import video_rows


@torch.no_grad()
def encode_images(model, processor, images) -> torch.Tensor:
    """PIL frames -> (F, tpf, D), padded to square as V-NIAH does."""
    pixels = processor.preprocess_frames(images, mode="pad")
    return model.encode_frames(pixels).float()


def _lm_with_theta(lm, rope_theta: float | None):
    if rope_theta is None or rope_theta == get_rope_theta(lm.config):
        return lm
    return with_rope_theta(lm, rope_theta)


def _embed_fn(lm):
    embed = lm.get_input_embeddings()
    return lambda ids: embed(ids).float()


def run_vniah(
    model, processor, vcfg, question: str, seed: int, out_dir: Path,
    rope_theta: float | None = None, label: str = "V-NIAH",
) -> dict:
    """V-NIAH on the toy haystack; results (cells.jsonl, all_accuracies.json, heatmap) in out_dir."""
    model.eval()
    pieces = PromptPieces(processor, question, list(COLOURS), processor.config.visual_position)
    q_ids, post_ids = question_and_post(pieces, processor.tokenizer)
    rng = np.random.default_rng([seed, 17])
    size, longest = processor.config.vision.image_size, max(vcfg.frames)
    hay = torch.cat([  # (T, tpf, D), encoded 256 frames at a time
        encode_images(model, processor, [haystack_frame(rng, size) for _ in range(min(256, longest - i))])
        for i in range(0, longest, 256)
    ])
    colours = needle_colours(vcfg.num_needles)
    needles_emb = encode_images(model, processor, [needle_frame(rng, c, size) for c in colours])
    prompts = [
        NeedlePrompt(f"{i}-{c}", tuple(q_ids), tuple(pieces.answer_ids[c].tolist()), c)
        for i, c in enumerate(colours)
    ]
    lm = _lm_with_theta(model.language_model, rope_theta)
    tpf, markers = hay.shape[1], 0
    if pieces.position == "interleaved":  # a frame unit = the marker's tokens + the frame's tokens
        marker = _embed_fn(lm)(torch.tensor(pieces.marker, dtype=torch.long))  # (m, D)
        hay, needles_emb = with_frame_markers(hay, marker), with_frame_markers(needles_emb, marker)
        markers = len(pieces.marker)
    grid = Grid(tuple(sorted(vcfg.frames)), tuple(sorted(vcfg.depths)))
    cells, sources = build_vniah(
        grid, single_items(prompts), pieces.prefix.tolist(), post_ids, FrameStore.from_tensor(hay),
        list(needles_emb), _embed_fn(lm), tokens_per_unit=hay.shape[1],
    )
    settings = {"kind": "toy-vniah", "seed": seed, "frames": list(grid.lengths), "depths": list(grid.depths),
                "needles": colours, "rope_theta": get_rope_theta(lm.config), "mode": vcfg.mode}
    layout = {"visual_position": processor.config.visual_position, "attention": processor.config.attention}
    settings.update({k: v for k, v in layout.items() if v not in ("before_text", "causal")})  # old runs resume
    plan = RunPlan(
        lm=lm, sources=sources, cells=cells, grid=grid, n_needles=len(prompts), layout=VNIAH,
        out_dir=Path(out_dir), settings=settings, mode=vcfg.mode, chunk_size=vcfg.chunk_size,
        decode=processor.tokenizer.decode,
        visual_fn=video_rows(sources, markers + tpf, markers) if processor.config.attention == "prefix_lm" else None,
    )
    return run_plan(plan, label)


def run_text_niah(lm, processor, tcfg, text_cfg, seed: int, out_dir: Path, label: str = "text NIAH") -> dict:
    """Colour-word retrieval in filler text at growing haystack lengths (tokens)."""
    lm.eval()
    task = TextRetrievalTask(processor, text_cfg.question, text_cfg.random_filler_fraction, text_cfg.supervise)
    grid = Grid(tuple(sorted(tcfg.lengths)), tuple(sorted(tcfg.depths)))
    cells, sources, colours = colour_text_inputs(task, _embed_fn(lm), grid, tcfg.samples, seed)
    settings = {"kind": "toy-text-niah", "seed": seed, "lengths": list(grid.lengths), "depths": list(grid.depths),
                "needles": colours, "rope_theta": get_rope_theta(lm.config)}
    plan = RunPlan(
        lm=lm, sources=sources, cells=cells, grid=grid, n_needles=len(colours), layout=TEXT,
        out_dir=Path(out_dir), settings=settings, mode="exact", chunk_size=2048,
        decode=processor.tokenizer.decode,
    )
    return run_plan(plan, label)


@torch.no_grad()
def run_video_qa_proxy(model, processor, qcfg, question: str, seed: int) -> dict:
    """Multiple choice over 4 colours by answer log-likelihood, on N uniformly sampled frames."""
    model.eval()
    pieces = PromptPieces(processor, question, list(COLOURS), processor.config.visual_position)
    rng = np.random.default_rng([seed, 31])
    size = processor.config.vision.image_size
    names = list(COLOURS)
    by_frames: dict[int, float] = {}
    for n_frames in qcfg.frames:
        correct = 0
        for _ in range(qcfg.num_questions):
            colour = names[int(rng.integers(len(names)))]
            options = [colour] + list(rng.choice([c for c in names if c != colour], size=3, replace=False))
            frames = _event_video_frames(rng, colour, qcfg.video_length, n_frames, size)
            visual = list(encode_images(model, processor, frames))  # N x (tpf, D)
            scores = [_answer_logprob(model, pieces, visual, c) for c in options]
            correct += int(int(np.argmax(scores)) == 0)
        by_frames[n_frames] = correct / qcfg.num_questions
    return {"average": float(np.mean(list(by_frames.values()))), "by_frames": by_frames,
            "name": "video_qa_proxy (synthetic long-video MCQ; a proxy, not Video-MME)"}


def _event_video_frames(rng, colour: str, length: int, n: int, size: int) -> list:
    """Uniformly sample n of `length` frames; an event of needle frames spans >= one sample gap."""
    event_len = max(1, int(np.ceil(length / n)))
    start = int(rng.integers(0, length - event_len + 1))
    indices = np.linspace(0, length - 1, n, dtype=int)
    return [
        needle_frame(rng, colour, size) if start <= i < start + event_len else haystack_frame(rng, size)
        for i in indices
    ]


def _answer_logprob(model, pieces: PromptPieces, frames: list[torch.Tensor], answer: str) -> float:
    """Log-likelihood of `answer` after the N frames (one block, or one placeholder per frame if interleaved)."""
    ids, _ = pieces.full[answer]
    if pieces.position == "interleaved":
        ids, _ = pieces.with_units(ids, None, len(frames))
        visual = frames
    else:
        visual = [torch.cat(frames)]  # (N * tpf, D)
    out = model(input_ids=ids[None], visual_features=visual, logits_to_keep=0)
    logits = out.logits[0]  # (L, V)
    answer_ids = pieces.answer_ids[answer]
    end = logits.shape[0] - 2  # the answer is followed by <|im_end|> and "\n"
    start = end - len(answer_ids)
    logprobs = torch.log_softmax(logits[start - 1 : end - 1].float(), dim=-1)
    return float(logprobs.gather(1, answer_ids[:, None]).sum())
