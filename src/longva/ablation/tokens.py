"""Visual-token arithmetic for the compile table: pooling policies and per-frame budgets.

V-NIAH and Video-MME are frame-indexed, so a variant that changes tokens per frame also changes
how many frames fit in the context; every compiled variant therefore reports its tokens per
frame (computed by the model's own `longva.model.encoding.tokens_per_frame`).

Kernel-size policies for phrases such as "average pooling with kernel size k":
- `stride_follows_kernel` (default): stride = k, as PyTorch's `avg_pool2d(x, k)` and LongVA's
  image path; 24x24 -> 8x8 for k=3 and 4x4 for k=5 (the floor drops the ragged border).
- `keep_token_count`: stride stays at the base stride and padding = ceil((k - base_k) / 2), so the token count
  is unchanged (24x24 -> 12x12 for k = 2, 3, 5) and only the receptive field changes. It needs a
  `model.pooling.padding` config field.
"""

from __future__ import annotations

import math
from typing import Any

POLICIES = ("stride_follows_kernel", "keep_token_count")

# A plan about another model may give counts on its own scale and say so ("Number of image tokens
# (currently 729)"). `relative` runs each value at the same ratio to this recipe's base (256 of 729
# -> 3 of a base 9: the plan's "about a third of the tokens"); `literal` runs the number as written
# (on a toy 6x6 patch map, 1536 tokens would interpolate 43x and make alignment samples ~50k tokens).
COUNT_POLICIES = ("relative", "literal")


def pooled_side(side: int, kernel: int, stride: int | None = None, padding: int = 0) -> int:
    """Output length of a floor-mode pooling window along one axis."""
    stride = stride or kernel
    return (side + 2 * padding - kernel) // stride + 1


def pooling_for_kernel(kernel: int, policy: str, base_kernel: int = 2, base_stride: int | None = None) -> dict[str, int]:
    """Pooling params a kernel-size phrase means under `policy` (see the module docstring).

    keep_token_count pads by ceil((k - base_k) / 2): the extra window width is split over both
    sides, so floor((n + 2p - k) / s) equals the base's floor((n - base_k) / s)."""
    if policy == "stride_follows_kernel":
        return {"kernel": kernel, "stride": kernel}
    if policy == "keep_token_count":
        padding = max(0, math.ceil((kernel - base_kernel) / 2))
        return {"kernel": kernel, "stride": base_stride or base_kernel, "padding": padding}
    raise ValueError(f"unknown pooling policy {policy!r}; expected one of {', '.join(POLICIES)}")


def factor_near_square(n: int) -> tuple[int, int]:
    """(h, w), h * w = n, h <= w, closest to square (the model's layout for a token count)."""
    h = math.isqrt(n)
    while n % h:
        h -= 1
    return h, n // h


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


def scale_count(value: Any, declared: str | None, ours: Any) -> int | None:
    """`value` on the plan's scale (whose base is `declared`) at the same ratio to `ours`, at least 1;
    None when there is nothing to scale (no numeric declared base, or the two bases agree)."""
    try:
        theirs = float(str(declared).replace(",", ""))
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(ours, (int, float)):
        return None
    if theirs <= 0 or theirs == ours:
        return None
    return near_square_count(value * ours / theirs)


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
    from longva.model.encoding import grid_token_shape  # lazy: pulls in torch

    model = view.model_config()
    side = model.vision.grid_side
    h, w = grid_token_shape(model)
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
