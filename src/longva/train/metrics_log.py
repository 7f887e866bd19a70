"""Per-step training metrics: JSONL (always) and TensorBoard (optional), on the main rank.

`metrics.jsonl` holds one object per optimizer step: step, loss, lr (per param group), tokens,
tokens/s, step time, grad norm, peak RSS (and peak CUDA memory on GPU). On resume the lines after
the checkpoint's step are dropped (those steps are recomputed), so the file reads as one run.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

from longva.errors import ConfigError
from longva.utils.io import append_jsonl, atomic_write_text, read_jsonl

METRICS_FILE = "metrics.jsonl"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def memory_stats(device: torch.device) -> dict:
    stats = {"peak_rss_mb": round(peak_rss_mb(), 1)}
    if device.type == "cuda":
        stats["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return stats


def check_tensorboard(enabled: bool) -> None:
    """Fail early (before anything is written) when TensorBoard is asked for but missing."""
    if not enabled:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError(
            "train.tensorboard: needs the tensorboard package; pip install 'longva[tensorboard]'"
        ) from None


class MetricsLogger:
    """Writes metrics on the main rank only; a no-op elsewhere."""

    def __init__(self, output_dir: str | Path, enabled: bool = True, tensorboard: bool = False):
        self.path = Path(output_dir) / METRICS_FILE
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard:
            check_tensorboard(True)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(output_dir) / "tensorboard"))

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, record)
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.writer.add_scalar(f"train/{key}", value, record["step"])
            self.writer.flush()

    def truncate_after(self, step: int) -> None:
        """Keep only the records of steps <= `step` (they match the checkpoint being resumed)."""
        if not self.enabled or not self.path.exists():
            return
        import json

        kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
