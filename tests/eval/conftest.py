"""A tiny LongVA model folder and a synthetic Video-MME copy, built once per session."""

import pytest
import torch

from longva.eval.videomme_synthetic import write_synthetic_videomme
from longva.inference import load_pipeline
from longva.model import LongVAForCausalLM, LongVAProcessor
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config


def save_tiny_model(path, seed: int = 0):
    """A tiny model whose greedy answers vary token to token (weights ~ N(0, 0.3)): the default
    init makes a 2-layer LM repeat one token, which would hide prompt or cache mistakes."""
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    torch.manual_seed(seed)
    model = LongVAForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.language_model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    model.save_pretrained(path, LongVAProcessor(tok, cfg))
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_longva"))


@pytest.fixture(scope="session")
def pipe(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture(scope="session")
def videomme_dir(tmp_path_factory):
    """One video per duration (16 / 48 / 128 frames), three questions each."""
    d = tmp_path_factory.mktemp("videomme")
    write_synthetic_videomme(d, videos_per_duration=1, seed=0)
    return d
