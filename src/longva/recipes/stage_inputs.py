"""What each recipe stage reads: the one declaration behind the stage cache and ablations.

`STAGE_INPUTS[stage]` lists the config paths (`RecipeConfig` dotted paths) whose values decide
the stage's output, besides the stages it consumes (`UPSTREAM`). The cache key of a stage hashes
exactly these values (`stage_config`), and `stages_reading(path)` tells which stages a change of
`path` re-runs (the ablation compiler's question), so the two can never disagree.

The tokenizer is built from the seed, the question, the vocabulary size and the chat template
(its corpus holds rendered prompts): every stage that tokenises reads those paths.
"""

from __future__ import annotations

from typing import Any

from longva.utils.dataclass_config import get_path

TOKENIZER = ("seed", "text.vocab_size", "text.question", "model.template")
# where the visual tokens sit and how they attend: read by alignment and every visual evaluation
PROMPT_LAYOUT = ("model.visual_position", "model.frame_marker", "model.attention")

STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "v0_vision": (*TOKENIZER, "model.vision", "stages.v0_vision"),
    "s0_text": (*TOKENIZER, "text", "model.lm", "stages.s0_text"),
    "s1_long": (*TOKENIZER, "text", "stages.s1_long"),
    "s2_align": (*TOKENIZER, "model.vision", "model.projector", "model.pooling", "model.encoding", *PROMPT_LAYOUT,
                 "stages.s2_align"),
    "eval_vniah": (*TOKENIZER, "eval.vniah"),
    "eval_text_niah": (*TOKENIZER, "text", "eval.text_niah"),
    "eval_video_qa_proxy": (*TOKENIZER, "eval.video_qa_proxy"),
}

# stages consumed by each stage. S2 and text NIAH read an LM: S1's, or S0's for the baselines;
# S1 consumes S0, so "s1_long" here covers both for what a change re-runs.
UPSTREAM: dict[str, tuple[str, ...]] = {
    "v0_vision": (),
    "s0_text": (),
    "s1_long": ("s0_text",),
    "s2_align": ("s1_long", "v0_vision"),
    "eval_vniah": ("s2_align",),
    "eval_text_niah": ("s1_long",),
    "eval_video_qa_proxy": ("s2_align",),
}

STAGE_ORDER = tuple(STAGE_INPUTS)  # an order in which every stage comes after what it consumes
TRAINING_STAGES = ("v0_vision", "s0_text", "s1_long", "s2_align")


def stage_config(cfg: Any, stage: str) -> dict[str, Any]:
    """The values a stage reads: {path: value} (the stage's part of the cache key)."""
    return {path: get_path(cfg, path) for path in STAGE_INPUTS[stage]}


def _overlaps(path: str, declared: str) -> bool:
    """`model.pooling.kernel` overlaps `model.pooling` and `model` overlaps `model.pooling`."""
    return path == declared or path.startswith(declared + ".") or declared.startswith(path + ".")


def reads(stage: str, path: str) -> bool:
    return any(_overlaps(path, declared) for declared in STAGE_INPUTS[stage])


def downstream(stages: set[str]) -> set[str]:
    """`stages` and every stage that consumes one of them, transitively."""
    out = set(stages)
    changed = True
    while changed:
        changed = False
        for stage, ups in UPSTREAM.items():
            if stage not in out and any(u in out for u in ups):
                out.add(stage)
                changed = True
    return out


def stages_reading(path: str) -> list[str]:
    """Stages whose output a change of `path` changes (directly or through what they consume),
    in execution order; empty for paths no stage reads (threads, baselines, the RoPE sweep)."""
    direct = {stage for stage in STAGE_INPUTS if reads(stage, path)}
    return [s for s in STAGE_ORDER if s in downstream(direct)]
