"""The NIAH grid: lengths (frame counts or token limits) x needle depths.

Spec strings follow the original's loops: `start:stop:step` includes `stop` when it is on the
step (`range(min, max + 1, interval)` for lengths, `np.arange(0, 1 + interval, interval)` for
depths), or a comma list (`200,1000,3000`), or one value. The needle goes after
`k = int(depth * length)` haystack units (frames or tokens), so depth 0 puts it first and depth 1
last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from longva.errors import InputError
from longva.utils.numbers import FRACTION, Bounds, number_list

# Depths are rounded to this many decimals so 0.1 * 3 is 0.3 (np.arange gives 0.30000000000000004).
DEPTH_DECIMALS = 6


@dataclass(frozen=True)
class Grid:
    lengths: tuple[int, ...]  # frame counts (V-NIAH) or token limits (text NIAH), ascending
    depths: tuple[float, ...]  # in [0, 1], ascending

    @property
    def max_length(self) -> int:
        return max(self.lengths)

    def points(self) -> list[tuple[int, float]]:
        """(length, depth) in the original's loop order: lengths outer, depths inner."""
        return [(n, d) for n in self.lengths for d in self.depths]


# Named grids. `original` is eval.sh of LongVA (90 cells x 5 needles).
PRESETS: dict[str, tuple[str, str]] = {
    "original": ("200:3000:200", "0:1:0.2"),
    "small": ("20:300:20", "0:1:0.1"),  # the evaluator's argparse defaults
    "toy": ("8:64:8", "0:1:0.2"),
    "smoke": ("4,8", "0,0.5,1"),
    # text NIAH (lengths in tokens): LongVA's text_extend/eval.sh, and a CPU-sized one
    "text": ("32000:512000:32000", "0:1:0.1"),
    "text-toy": ("256:2048:256", "0:1:0.2"),
}


def insert_index(depth: float, length: int) -> int:
    """Units of haystack before the needle: int(depth * length), robust to float noise.

    floor(d*T + 1e-9): 0.29 * 100 is 28.999999999999996 in floats but means 29.
    """
    return min(length, int(math.floor(depth * length + 1e-9)))


LENGTH = Bounds(lo=1, integer=True)


def parse_lengths(spec: str, what: str = "--frames") -> tuple[int, ...]:
    """'200:3000:200' -> (200, 400, ..., 3000); '8,16' -> (8, 16). Whole numbers >= 1."""
    return tuple(sorted(set(number_list(spec, what, LENGTH))))


def parse_depths(spec: str, what: str = "--depths") -> tuple[float, ...]:
    """'0:1:0.2' -> (0.0, 0.2, ..., 1.0); '0,0.5,1' -> (0.0, 0.5, 1.0). Values in [0, 1]."""
    return tuple(sorted(set(number_list(spec, what, FRACTION, round_to=DEPTH_DECIMALS))))


def make_grid(
    lengths: str | None, depths: str | None, preset: str = "original", length_flag: str = "--frames"
) -> Grid:
    """A grid from a preset, with `lengths` / `depths` specs overriding its parts."""
    if preset not in PRESETS:
        raise InputError(f"grid preset {preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    default_lengths, default_depths = PRESETS[preset]
    return Grid(
        lengths=parse_lengths(default_lengths if lengths is None else lengths, length_flag),
        depths=parse_depths(default_depths if depths is None else depths, "--depths"),
    )
