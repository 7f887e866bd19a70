"""The eval install (`make test-lmms-eval`'s venv) kept the CPU torch and brought no torchvision."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import av
import torch


def test_cpu_torch_kept_and_no_torchvision():
    assert torch.__version__.endswith("+cpu"), torch.__version__
    assert not torch.version.cuda
    # PyPI's torchvision is a CUDA build for one torch release: it must not be installed here.
    assert importlib.util.find_spec("torchvision") is None
    assert importlib.metadata.version("lmms_eval") == "0.7.3"


def test_av_is_the_version_lmms_eval_pins():
    assert (
        int(av.__version__.split(".")[0]) < 16
    )  # lmms-eval 0.7.3: av<16 (tests/data run here too)
