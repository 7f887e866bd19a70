"""Tiny model directory, a small real video, PNG images and broken inputs, built once per session."""

import av
import numpy as np
import pytest
import torch
from PIL import Image

from longva.data.video_writer import write_video
from longva.inference import load_pipeline
from longva.model import LongVAForCausalLM, LongVAProcessor
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

VIDEO_FRAMES = 12


def _varied_model(cfg) -> LongVAForCausalLM:
    """A tiny model whose greedy answers vary token to token: the default init (std 0.02) makes
    a 2-layer LM repeat one token, which would let a broken decoding loop pass the tests."""
    torch.manual_seed(0)
    model = LongVAForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.language_model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    return model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    path = tmp_path_factory.mktemp("tiny_longva")
    _varied_model(cfg).save_pretrained(path, LongVAProcessor(tok, cfg))
    return path


@pytest.fixture(scope="session")
def pipe(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Paths of a 12-frame 64x48 video, two PNGs and several files that are not videos."""
    d = tmp_path_factory.mktemp("media")
    frames = [np.full((48, 64, 3), (20 * i, 255 - 20 * i, (90 * i) % 256), np.uint8) for i in range(VIDEO_FRAMES)]
    write_video(d / "clip.mp4", frames, fps=4, gop=4)
    Image.new("RGB", (50, 30), (200, 10, 10)).save(d / "red.png")
    Image.new("RGB", (20, 70), (10, 10, 200)).save(d / "blue.png")
    data = (d / "clip.mp4").read_bytes()
    (d / "corrupt.mp4").write_bytes(data[:64] + bytes(range(256)) * (len(data) // 256))
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("this is a text file, not a video\n")
    _write_audio_only(d / "voice.mp4")
    return d


def _write_audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
