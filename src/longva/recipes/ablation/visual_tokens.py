"""Visual-token arithmetic of the LongVA recipe's ablations: per-frame budgets and V-NIAH grids.

V-NIAH and Video-MME are frame-indexed, so a variant that changes tokens per frame also changes
how many frames fit in the context; every compiled variant therefore reports its tokens per
frame (computed by the model's own `longva.model.encoding.grid_token_shape`).

A kernel-size phrase ("average pooling with kernel size k") means stride = k, as PyTorch's
`avg_pool2d(x, k)` and LongVA's image path: 24x24 -> 8x8 for k=3 and 4x4 for k=5 (the floor drops
the ragged border).

V-NIAH grid: what a long-context model is tested on is the number of visual tokens. A variant with
1536 tokens per frame on the base's 128-frame row would be tested at ~170x the base's context (and
run for hours), one with 1 token per frame at a ninth of it; neither compares with the baseline.
The iso-token grid scales each frame count by base_tpf / variant_tpf so the visual token lengths
match the base grid (at least 1 frame; duplicates after rounding are dropped); `frames` keeps the
base's frame counts. The chosen frames are written into the run's `eval.vniah.frames`, so the
evaluation's stage key covers them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from longva.ablation.errors import CompileError
from longva.errors import ConfigError
from longva.model.encoding import grid_token_shape
from longva.model.pooling import factor_near_square

GRID_POLICIES = ("iso-tokens", "frames")
FRAMES_PATH = "eval.vniah.frames"
COUNT_RULE = "the nearest count with a 2-D token grid"  # how near_square_count rounds (variant notes)


def resample_plan(native_tokens: int, target: int) -> dict[str, Any]:
    """How a target token count is reached from the native grid: shape, method, warnings."""
    h, w = factor_near_square(target)
    method = "none" if target == native_tokens else ("adaptive_pool" if target < native_tokens else "interpolate")
    warnings = []
    if target > native_tokens:
        warnings.append(f"{target} tokens upsample the native {native_tokens} ({target / native_tokens:.3g}x);"
                        " interpolation adds tokens, not information")
    if h != w:
        warnings.append(f"{target} tokens is not a square; laid out as {h}x{w}")
    if h == 1 and target > 2:
        warnings.append(f"{target} is prime: a 1x{target} strip")
    return {"grid": f"{h}x{w}", "method": method, "warnings": warnings}


def near_square_count(target: float) -> int:
    """The count closest to `target` whose token grid is at most 2:1 (12 -> 3x4, not 13 -> 1x13),
    so a scaled count still pools to a 2-D grid."""
    def fits(n: int) -> bool:
        h, w = factor_near_square(n)
        return w <= 2 * h or n <= 2

    below = max(1, math.floor(target))
    while not fits(below):
        below -= 1
    above = max(1, math.ceil(target))
    while not fits(above):
        above += 1
    return below if target - below <= above - target else above


def budget(view: Any) -> dict[str, Any]:
    """Derived token facts of a recipe view: tokens per frame, token grid, pooling, warnings."""
    model = view.config.model
    side = model.vision.grid_side
    try:
        h, w = grid_token_shape(model)
    except ConfigError as e:  # say which grid the arithmetic ran on and how to change it
        raise CompileError(f"{e} (native grid {side}x{side} = image_size {model.vision.image_size} / patch_size"
                           f" {model.vision.patch_size}; a larger grid: --base-set"
                           " model.vision.hf_config.image_size=N)") from None
    facts: dict[str, Any] = {"tokens_per_frame": h * w, "token_grid": f"{h}x{w}", "native_grid": f"{side}x{side}"}
    warnings: list[str] = []
    pooling = model.pooling
    if pooling.tokens_per_grid is not None:
        plan = resample_plan(side * side, pooling.tokens_per_grid)
        facts["resample"] = plan["method"]
        warnings += plan["warnings"]
    elif pooling.kind != "none":
        stride = pooling.stride or pooling.kernel
        dropped = (side - pooling.kernel) % stride
        if dropped:
            warnings.append(f"kernel {pooling.kernel} stride {stride} on {side}x{side} drops {dropped}"
                            " border row(s)/column(s) (floor mode)")
    return {"facts": facts, "warnings": warnings}


def tokens_per_frame(view: Any) -> int:
    return budget(view)["facts"]["tokens_per_frame"]


# ---- V-NIAH frames of a variant -----------------------------------------------------------------


@dataclass(frozen=True)
class VniahGrid:
    frames: list[int]
    policy: str
    note: str  # one line for the report: what was scaled and why

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "frames": self.frames, "note": self.note}


def iso_token_frames(base_frames: list[int], base_tpf: int, variant_tpf: int) -> list[int]:
    """Frame counts whose visual tokens (frames x tpf) match the base grid's, >= 1, deduplicated."""
    scale = base_tpf / variant_tpf
    out: list[int] = []
    for frames in sorted(base_frames):
        scaled = max(1, int(frames * scale + 0.5))  # round half up: 4.5 frames -> 5
        if scaled not in out:
            out.append(scaled)
    return out


def vniah_grid(policy: str, base_frames: list[int], base_tpf: int | None, variant_tpf: int | None,
               explicit: bool = False) -> VniahGrid:
    """The V-NIAH frames of one variant under `policy` (`explicit`: the variant sets them itself)."""
    if policy not in GRID_POLICIES:
        raise ValueError(f"unknown V-NIAH grid policy {policy!r}; expected one of {', '.join(GRID_POLICIES)}")
    base = sorted(base_frames)
    if explicit:
        return VniahGrid(base, "explicit", "frames set by the variant's own overrides")
    if policy == "frames" or not base_tpf or not variant_tpf or base_tpf == variant_tpf:
        why = "same tokens per frame as the base" if base_tpf == variant_tpf else f"policy {policy}"
        return VniahGrid(base, "frames" if policy == "frames" else "iso-tokens", f"base frame counts: {why}")
    frames = iso_token_frames(base, base_tpf, variant_tpf)
    note = (f"iso-token grid: base frames {base} x {base_tpf}/{variant_tpf} tokens per frame -> {frames}"
            + ("; clamped at 1 frame, so the shortest cells are longer than the base's"
               if min(base) * base_tpf / variant_tpf < 0.5 else ""))
    return VniahGrid(frames, "iso-tokens", note)
