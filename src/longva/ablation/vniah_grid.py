"""Which frame counts V-NIAH uses for a variant: iso-token (default) or the base's frames.

V-NIAH is frame-indexed, but what a long-context model is tested on is the number of visual
tokens. A variant with 1536 tokens per frame on the base's 128-frame row would be tested at ~170x
the base's context (and run for hours), one with 1 token per frame at a ninth of it; neither
compares with the baseline. The iso-token grid scales each frame count by
base_tpf / variant_tpf so the visual token lengths match the base grid (at least 1 frame;
duplicates after rounding are dropped). `frames` keeps the base's frame counts.

The chosen frames are written into the variant's `eval.vniah.frames` before it runs, so the
evaluation's stage hash covers them.
"""

from __future__ import annotations

from dataclasses import dataclass

GRID_POLICIES = ("iso-tokens", "frames")
FRAMES_PATH = "eval.vniah.frames"


@dataclass(frozen=True)
class VniahGrid:
    frames: list[int]
    policy: str
    note: str  # one line for the report: what was scaled and why


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
