"""`longva niah run` end to end on a tiny LongVA, and one-line errors (exit 2) for bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from longva.cli import main
from longva.utils.io import read_jsonl


@pytest.fixture(scope="module")
def vniah_run(longva_dir, tmp_path_factory):
    out, cache = tmp_path_factory.mktemp("vniah"), tmp_path_factory.mktemp("cache")
    args = [
        "niah",
        "run",
        "--model",
        str(longva_dir),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--preset",
        "smoke",
        "--synthetic-needles",
        "2",
        "--needle-size",
        "32",
        "--needle-kinds",
        "square,digit",
    ]
    assert main(args) == 0
    return out, cache, args


def test_run_writes_the_originals_files(vniah_run):
    out, _, _ = vniah_run
    rows = json.loads((out / "all_accuracies.json").read_text())
    assert [(r["Num. Frame"], r["Frame Depth"]) for r in rows] == [
        (n, d) for n in (4, 8) for d in (0.0, 50.0, 100.0)
    ]
    assert (out / "avg_accuracy.txt").read_text().startswith("Average Accuracy: ")
    assert Image.open(out / "heatmap.png").size == (1750, 800)
    assert len(list(read_jsonl(out / "cells.jsonl"))) == 12


def test_rerun_skips_finished_cells_and_reuses_embeddings(vniah_run):
    out, cache, args = vniah_run
    chunks = {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")}
    assert main(args) == 0
    assert len(list(read_jsonl(out / "cells.jsonl"))) == 12
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")} == chunks


def test_cli_scores_equal_an_independent_full_forward(vniah_run, longva_dir):
    """Rebuild every cell the original's way (encode, concatenate, one forward, full logits)."""
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.niah.haystack import SyntheticHaystack
    from longva.niah.needles import load_needles

    out, _, _ = vniah_run
    model = LongVAForCausalLM.from_pretrained(longva_dir)
    proc = LongVAProcessor.from_pretrained(longva_dir)
    tok = proc.tokenizer
    hay = SyntheticHaystack()
    needles = load_needles(out / "needles")

    def enc(frames):
        return model.encode_frames(proc.preprocess_frames(frames, mode="pad")).reshape(
            -1, model.lm_hidden_size
        )

    def text(s):
        return model.embed_text(torch.tensor(tok.encode(s, add_special_tokens=False)))

    pre = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    post = "<|im_end|>\n<|im_start|>assistant\n"
    with torch.inference_mode():
        frames = enc([hay.frame(i) for i in range(8)]).reshape(8, -1, model.lm_hidden_size)
        for rec in read_jsonl(out / "cells.jsonl"):
            needle = needles[rec["needle"]]
            k, t = int(rec["depth"] * rec["frames"]), rec["frames"]
            visual = torch.cat(
                [
                    frames[:k],
                    enc([np.asarray(Image.open(needle.image).convert("RGB"))])[None],
                    frames[k:t],
                ]
            )
            answer = tok.encode(needle.answer, add_special_tokens=False)
            x = torch.cat(
                [
                    text(pre),
                    visual.reshape(-1, visual.shape[-1]),
                    text(needle.prompt),
                    text(post),
                    model.embed_text(torch.tensor(answer)),
                ]
            )
            logits = model.language_model(inputs_embeds=x[None]).logits[0]
            p = x.shape[0] - len(answer)
            pred = logits[p - 1 : p - 1 + len(answer)].argmax(-1).tolist()
            assert rec["pred_ids"] == pred and rec["correct"] == (pred == answer), rec


def _needle_folder(tmp_path, image):
    folder = tmp_path / "needles"
    folder.mkdir(exist_ok=True)
    (folder / "needles.jsonl").write_text(
        json.dumps({"image": image, "question": "q", "answer": "a"}) + "\n"
    )
    return folder


def _video(path, seconds):
    from longva.data.video_writer import write_video

    return write_video(path, [np.full((16, 16, 3), 9 * i, np.uint8) for i in range(seconds)], fps=1)


@pytest.mark.parametrize(
    "case", ["grid", "missing_image", "escape", "short_haystack", "no_model", "mode", "chunk"]
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    args = [
        "niah",
        "run",
        "--model",
        str(tmp_path / "model"),
        "--out",
        str(tmp_path / "out"),
        "--frames",
        "4,8",
    ]
    expected = {
        "grid": "start 3000 is greater than stop 200",
        "missing_image": "does not exist",
        "escape": "escapes its folder",
        "short_haystack": "sampled frames but --frames asks for up to 8",
        "no_model": "does not exist; expected a model folder",
        "mode": "--mode 'beam' is unknown",
        "chunk": "--chunk-size 0",
    }[case]
    if case == "grid":
        args[-1] = "3000:200:200"
    elif case in ("missing_image", "escape"):
        args += [
            "--needles",
            str(_needle_folder(tmp_path, "nope.png" if case == "missing_image" else "../x.png")),
        ]
    elif case == "short_haystack":
        args += ["--haystack", str(_video(tmp_path / "short.mp4", 3))]
    elif case == "mode":
        args += ["--mode", "beam"]
    elif case == "chunk":
        args += ["--chunk-size", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error:") and expected in err and "\n" not in err and "Traceback" not in err
    )


def test_needles_command(tmp_path, capsys):
    assert (
        main(
            [
                "niah",
                "needles",
                str(tmp_path / "n"),
                "--n",
                "3",
                "--size",
                "32",
                "--kinds",
                "square",
                "--colors",
                "Red,Blue",
            ]
        )
        == 0
    )
    lines = (tmp_path / "n" / "needles.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(li)["answer"] in ("Red", "Blue") for li in lines)
    assert main(["niah", "needles", str(tmp_path / "m"), "--colors", "Mauve"]) == 2
