"""Numbers of one evaluation stage: V-NIAH by length bucket, text NIAH by length, best RoPE θ.

V-NIAH accuracy is averaged over the whole grid and over length buckets defined by the number
of visual tokens of a cell, (frames + 1) x tokens/frame (the needle is inserted), against the
S0 context (the short LM's training length).

What a model answers on the cells it misses beyond the S0 context tells a model that reads
nothing (it ends its answer, scoring 0) from one that falls back on one fixed colour (which the
closed palette credits on 1 needle in 8 at every length). Its accuracy there on the other needles
(`beyond_s0_context_other_needles`) is what it reads without that credit: a diagnostic beside the
bucket, which stays the number the checks use.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

BUCKETS = ("within_s0_context", "beyond_s0_context", "beyond_4x_s0_context")


def _mean(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def vniah_numbers(cells: list[dict], tpf: int, s0_context: int) -> dict:
    """Average, per-frame-count, per-needle and per-bucket accuracy from per-cell records."""
    by_frames: dict[int, list[float]] = {}
    by_needle: dict[str, list[float]] = {}
    for c in cells:
        by_frames.setdefault(int(c["frames"]), []).append(1.0 if c["correct"] else 0.0)
        by_needle.setdefault(str(c.get("needle_id", c.get("needle"))), []).append(1.0 if c["correct"] else 0.0)
    visual = {t: (t + 1) * tpf for t in by_frames}
    buckets = {
        "within_s0_context": [t for t in by_frames if visual[t] <= s0_context],
        "beyond_s0_context": [t for t in by_frames if visual[t] > s0_context],
        "beyond_4x_s0_context": [t for t in by_frames if visual[t] > 4 * s0_context],
    }
    beyond = [c for c in cells if visual[int(c["frames"])] > s0_context]
    misses = miss_answers([c for c in beyond if not c["correct"]])
    fallback = next(iter(misses["answers"]), None)
    return {
        "average": _mean(v for vals in by_frames.values() for v in vals),
        "by_frames": {t: _mean(by_frames[t]) for t in sorted(by_frames)},
        "by_needle": {n: _mean(v) for n, v in sorted(by_needle.items())},
        "visual_tokens": {t: visual[t] for t in sorted(visual)},
        "buckets": {name: _mean(v for t in ts for v in by_frames[t]) for name, ts in buckets.items()},
        "bucket_frames": {name: sorted(ts) for name, ts in buckets.items()},
        "misses_beyond_s0_context": misses,
        "beyond_s0_context_other_needles": _mean(
            1.0 if c["correct"] else 0.0 for c in beyond if (c.get("answer") or "").strip() != fallback
        ),
        "cells": len(cells),
    }


def miss_answers(missed: list[dict], top: int = 3) -> dict:
    """{"count": n, "answers": {answer: share of the misses}} for the `top` most common answers."""
    answers = Counter((c.get("pred") or "").strip() or "(empty)" for c in missed)
    return {"count": len(missed), "answers": {a: k / len(missed) for a, k in answers.most_common(top)}}


def miss_text(misses: dict | None, other_needles: float | None = None) -> str:
    """'pink 97% of 160' (the most common answer on the missed cells), '–' without misses;
    with `other_needles`: '...; others 0.34' (the accuracy on the needles other than that answer)."""
    if not misses or not misses["count"]:
        return "–"
    answer, share = next(iter(misses["answers"].items()))
    others = f"; others {other_needles:.2f}" if other_needles is not None else ""
    return f"{answer_cell(answer)} {share:.0%} of {misses['count']}{others}"


def answer_cell(answer: str) -> str:
    """An answer as a Markdown table cell shows it (`<|im_end|>` holds the column separator)."""
    return answer.replace("|", "\\|")


def text_numbers(cells: list[dict]) -> dict:
    by_len: dict[int, list[float]] = {}
    for c in cells:
        by_len.setdefault(int(c["tokens"]), []).append(1.0 if c["correct"] else 0.0)
    return {
        "average": _mean(v for vals in by_len.values() for v in vals),
        "by_tokens": {t: _mean(v) for t, v in sorted(by_len.items())},
    }


def theta_text(theta: float) -> str:
    """1e5, 3e4, 1.5e6: a RoPE base as people write it."""
    mantissa, exponent = f"{theta:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def best_theta(numbers_by_theta: dict[float, dict]) -> float:
    """The RoPE θ whose V-NIAH is best beyond 4x the S0 context (ties: best average, then lower θ).

    The baseline gets the θ that suits it best on the very grid it is scored on: an upper bound
    on what training-free extrapolation can do here, never a worse one.
    """

    def score(theta: float) -> tuple:
        n = numbers_by_theta[theta]
        far = n["buckets"]["beyond_4x_s0_context"]
        return (far if far is not None else -1.0, n["average"] or 0.0, -theta)

    return max(numbers_by_theta, key=score)
