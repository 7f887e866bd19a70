"""The names that differ between V-NIAH and text NIAH results (columns, axis labels)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Names that differ between V-NIAH and text NIAH."""

    length_key: str  # per-cell record field: "frames" | "tokens"
    x_column: str  # all_accuracies.json: "Num. Frame" | "Context Length"
    y_column: str  # "Frame Depth" | "Document Depth"
    x_label: str  # heatmap axis: "Num. of Frames" | "Token Limit"


VNIAH = Layout("frames", "Num. Frame", "Frame Depth", "Num. of Frames")
TEXT = Layout("tokens", "Context Length", "Document Depth", "Token Limit")
LAYOUTS = (VNIAH, TEXT)
