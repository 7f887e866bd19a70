"""The lmms-eval suite (`make test-lmms-eval`, its own venv): lmms-eval's real CLI, offline.

Fixtures build a tiny LongVA model folder, a small video and images; `lmms_helpers.run_lmms_eval`
runs `python -m lmms_eval eval ...` in a subprocess with HF_HUB_OFFLINE=1 and returns its output,
its results JSON and its logged samples (lmms-eval exits 0 even when the model fails to load,
so tests read the files, never the exit code).
"""

from __future__ import annotations

import numpy as np
import pytest
from lmms_helpers import save_tiny_model
from PIL import Image

from longva.data.video_writer import write_video
from longva.inference import load_pipeline


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_longva"))


@pytest.fixture(scope="session")
def pipe(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """clip.mp4 (12 frames, 64x48), long.mp4 (30 frames), red.png, blue.png."""
    d = tmp_path_factory.mktemp("media")
    frames = [
        np.full((48, 64, 3), (20 * i, 255 - 20 * i, (90 * i) % 256), np.uint8) for i in range(12)
    ]
    write_video(d / "clip.mp4", frames, fps=4, gop=4)
    rng = np.random.default_rng(1)
    write_video(
        d / "long.mp4", list(rng.integers(0, 255, (30, 40, 56, 3), dtype=np.uint8)), fps=4, gop=8
    )
    Image.new("RGB", (50, 30), (200, 10, 10)).save(d / "red.png")
    Image.new("RGB", (20, 70), (10, 10, 200)).save(d / "blue.png")
    return d
