"""Shared settings of the `longva ablate` run tests: a recipe smaller than `--quick`.

Every stage still runs for real (training steps, V-NIAH cells, the proxy), only with a handful of
steps and cells, so a whole seed plan runs in seconds at one thread. The V-NIAH grid keeps three
frame counts whose visual tokens, (frames + 1) x 9, fall in all three length buckets of the
quick recipe's 96-token S0 context: 27, 153 (> 96) and 441 (> 4 x 96).
"""

from __future__ import annotations

TINY = {
    "stages.s0_text.steps": 4, "stages.s0_text.batch_size": 8, "stages.s0_text.checkpoint_every": 4,
    "stages.s1_long.steps": 2, "stages.s1_long.batch_size": 2, "stages.s1_long.checkpoint_every": 2,
    "stages.s2_align.steps": 2, "stages.s2_align.batch_size": 2, "stages.s2_align.max_grids": 2,
    "stages.s2_align.checkpoint_every": 2,
    "eval.vniah.frames": [2, 16, 48], "eval.vniah.depths": [0.0, 1.0], "eval.vniah.num_needles": 1,
    "eval.text_niah.lengths": [32, 128], "eval.text_niah.depths": [0.5], "eval.text_niah.samples": 1,
    "eval.video_qa_proxy.frames": [4], "eval.video_qa_proxy.num_questions": 2, "eval.video_qa_proxy.video_length": 16,
}


def tiny_base_set() -> str:
    """TINY as one `--base-set` value (lists written YAML-style)."""
    return ",".join(f"{k}={v}" for k, v in TINY.items()).replace(" ", "")


def tiny_base():
    """`quick_config()` with TINY applied (what `--quick --base-set tiny_base_set()` compiles against)."""
    from longva.recipes.ablation.adapter import RecipeView

    base = RecipeView.default(quick=True)
    view = base.apply(TINY)
    view.origin = f"{base.origin} + tiny test overrides"
    return view
