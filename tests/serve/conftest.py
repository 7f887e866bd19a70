"""A tiny model, small videos/images and live `longva serve` processes on loopback.

The servers are real: `python -m longva.cli serve ...` in a subprocess with one torch thread,
started once per session and stopped with SIGINT at the end. Tests talk to them over HTTP only.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from serve_helpers import API_KEY, CLIP_FRAMES, MODEL_NAME, start_server, stop_server

from longva.data.video_writer import write_video
from longva.model import LongVAForCausalLM, LongVAProcessor
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config


def _tiny_model(tokenizer) -> LongVAForCausalLM:
    """Varied greedy answers (std 0.3 weights, as tests/inference) that never end on their own:
    the stop tokens' tied embedding rows are zero, so their logit is 0 while the largest of the
    other 398 is positive; max_tokens decides the length, so a long stream is long for sure."""
    cfg = tiny_longva_config(len(tokenizer))
    torch.manual_seed(0)
    model = LongVAForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.language_model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
        embeddings = model.language_model.get_input_embeddings().weight
        for token in ("<|im_end|>", "<|endoftext|>"):
            embeddings[tokenizer.convert_tokens_to_ids(token)] = 0
    return model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    tok = build_tiny_tokenizer()
    path = tmp_path_factory.mktemp("serve_model")
    model = _tiny_model(tok)
    model.save_pretrained(path, LongVAProcessor(tok, model.config))
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """The allowed root: a 12-frame clip, a 64-frame 320x240 clip (load test), a PNG, a broken
    video."""
    d = tmp_path_factory.mktemp("media")
    frames = [
        np.full((48, 64, 3), (20 * i, 255 - 20 * i, (90 * i) % 256), np.uint8)
        for i in range(CLIP_FRAMES)
    ]
    write_video(d / "clip.mp4", frames, fps=4, gop=4)
    ramp = np.add.outer(np.arange(240), np.arange(320)).astype(
        np.uint8
    )  # (240, 320), cheap to decode
    big = [
        np.stack(
            [np.roll(ramp, 5 * i, axis=1), ramp.T[:240, :240].repeat(2, 1)[:, :320], ramp[::-1]], -1
        )
        for i in range(64)
    ]
    write_video(d / "big.mp4", big, fps=8, gop=16)
    Image.new("RGB", (50, 30), (200, 10, 10)).save(d / "red.png")
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (d / "sub").mkdir()
    return d


@pytest.fixture(scope="session")
def outside(tmp_path_factory):
    """A folder outside the allowed root, with a video in it."""
    d = tmp_path_factory.mktemp("outside")
    frames = [np.zeros((32, 32, 3), np.uint8)] * 4
    write_video(d / "secret.mp4", frames, fps=4, gop=4)
    return d


@pytest.fixture(scope="session")
def api_server(model_dir, media, tmp_path_factory):
    """API key, allowed root = media, 2 may wait, 1 MiB bodies, 64 frames per video (4 by
    default), answers up to 20000 tokens."""
    log = tmp_path_factory.mktemp("api_server") / "server.log"
    server = start_server(
        model_dir,
        log,
        "--name",
        MODEL_NAME,
        "--allowed-root",
        media,
        "--max-queue",
        2,
        "--max-request-mb",
        1,
        "--frames",
        4,
        "--max-frames",
        64,
        "--max-new-tokens",
        20000,
        env={"LONGVA_API_KEY": API_KEY},
    )
    yield server
    assert stop_server(server) == 0, server.log_tail()


@pytest.fixture(scope="session")
def pipe(model_dir):
    """The same model in this process: the reference answers the server must reproduce."""
    from longva.inference import load_pipeline

    return load_pipeline(model_dir)
