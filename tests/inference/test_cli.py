import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from longva.cli import main
from longva.model import LongVAForCausalLM
from longva.model.checkpoint import load_config
from longva.model.encoding import image_token_count, tokens_per_frame

CHAT_KEYS = {"model_dir", "answer", "frames_used", "visual_tokens", "prompt_tokens", "timings", "warnings"}


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _chat(capsys, model_dir, *argv):
    return _run(capsys, "chat", "--model", model_dir, "--max-new-tokens", 6, *argv)


def test_chat_on_a_video_streams_the_same_answer_as_json(capsys, model_dir, media):
    code, text, err = _chat(capsys, model_dir, "--video", media / "clip.mp4", "--frames", 4, "What happens?")
    assert code == 0, err
    code, out, err = _chat(capsys, model_dir, "--video", media / "clip.mp4", "--frames", 4, "--json", "What happens?")
    assert code == 0, err
    record = json.loads(out)  # stdout is exactly one JSON object
    assert CHAT_KEYS <= set(record)
    assert text == record["answer"] + "\n"
    assert record["frames_used"] == np.linspace(0, 11, 4, dtype=int).tolist()
    assert record["visual_tokens"] == 4 * tokens_per_frame(load_config(model_dir))
    assert record["model_dir"] == str(model_dir) and record["warnings"] == []
    assert {"decode", "encode", "prefill", "generate"} <= set(record["timings"])


def test_chat_on_images(capsys, model_dir, media):
    code, out, err = _chat(
        capsys, model_dir, "--image", media / "red.png", "--image", media / "blue.png", "--json", "Compare."
    )
    assert code == 0, err
    record = json.loads(out)
    cfg = load_config(model_dir)
    expected = sum(image_token_count(cfg, Image.open(media / n).size) for n in ("red.png", "blue.png"))
    assert record["visual_tokens"] == expected and record["frames_used"] is None


def test_interactive_mode_reads_questions_until_exit_and_keeps_history(capsys, monkeypatch, model_dir, media):
    monkeypatch.setattr(sys, "stdin", io.StringIO("What happens?\n\nAnd then?\n/exit\nNever asked\n"))
    code, out, err = _chat(capsys, model_dir, "--video", media / "clip.mp4", "--frames", 3, "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in records] == ["What happens?", "And then?"]
    assert [r["turn"] for r in records] == [1, 2]
    assert records[1]["visual_tokens"] == 0  # the video came with turn 1 and stays in the history
    assert records[1]["reused_tokens"] >= records[0]["prompt_tokens"]  # the session keeps the KV cache
    assert records[1]["prompt_tokens"] > records[0]["prompt_tokens"] + records[0]["visual_tokens"] // 2


def test_too_many_frames_are_clamped_with_a_visible_warning(capsys, model_dir, media):
    code, out, err = _chat(capsys, model_dir, "--video", media / "clip.mp4", "--frames", 50, "--json", "What?")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "50 frames" in warnings[0] and "12" in warnings[0]
    record = json.loads(out)
    assert record["frames_used"] == list(range(12)) and len(record["warnings"]) == 1


@pytest.mark.parametrize(
    "name, expected",
    [
        ("corrupt.mp4", "video"),
        ("empty.mp4", "empty"),
        ("notes.mp4", "not"),
        ("voice.mp4", "no video stream"),
        ("missing.mp4", "not found"),
    ],
)
def test_bad_videos_are_one_line_errors(capsys, model_dir, media, name, expected):
    code, out, err = _chat(capsys, model_dir, "--video", media / name, "What?")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], err
    assert "Traceback" not in err
    assert expected in lines[0]


def test_bad_model_dir_and_bad_image_are_one_line_errors(capsys, tmp_path, model_dir, media):
    code, _, err = _run(capsys, "chat", "--model", tmp_path / "nope", "What?")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    code, _, err = _chat(capsys, model_dir, "--image", media / "notes.mp4", "What?")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_info_json_matches_the_config_and_the_real_model(capsys, model_dir):
    code, out, err = _run(capsys, "info", "--model", model_dir, "--json")
    assert code == 0, err
    info = json.loads(out)
    cfg = load_config(model_dir)
    assert info["tokens_per_frame"] == tokens_per_frame(cfg) == 4
    real = LongVAForCausalLM(cfg)
    assert info["parameters"]["total"] == sum(p.numel() for p in real.parameters())
    assert info["parameters"]["vision_tower"] == sum(p.numel() for p in real.vision_tower.parameters())
    assert info["language_model"]["rope_theta"] == cfg.lm.rope_theta
    assert info["context_source"] == "max_position_embeddings"
    ctx = info["context_length"]
    assert info["max_frames"] == (ctx - info["prompt_overhead_tokens"]) // 4
    code, text, _ = _run(capsys, "info", "--model", model_dir)
    assert code == 0 and "tokens per frame: 4" in text


def test_info_uses_max_length_when_the_config_sets_it(capsys, tmp_path, model_dir):
    for f in model_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["max_length"] = 1000
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    code, out, err = _run(capsys, "info", "--model", tmp_path, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert (info["context_length"], info["context_source"]) == (1000, "max_length")
    assert info["max_frames"] == (1000 - info["prompt_overhead_tokens"]) // 4


def test_installed_console_script_prints_only_json_and_nothing_else(model_dir, media):
    exe = Path(sys.executable).parent / "longva"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [str(exe), "chat", "--model", str(model_dir), "--video", str(media / "clip.mp4"), "--frames", "2",
         "--max-new-tokens", "4", "--json", "Hi?"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert CHAT_KEYS <= set(json.loads(proc.stdout))
    assert proc.stderr == ""  # no stray library log lines (in-process capture cannot see them all)
