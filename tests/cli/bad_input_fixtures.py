"""The inputs the bad-input table refers to: a tiny model, broken copies of it, files of every wrong kind.

Built once per session in one folder; every case of the table must leave it byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TOY_TEXT = ROOT / "configs" / "train_text_toy.yaml"
TOY_ALIGN = ROOT / "configs" / "train_align_toy.yaml"


class Payload:
    """A pickle that would run a command when unpickled without weights_only."""

    def __reduce__(self):
        return (print, ("unpickled: the payload ran",))


def build_inputs(root: Path) -> dict[str, Path]:
    """Every named input of the table, under `root`."""
    from longva.data.video_writer import write_video
    from longva.model import LongVAForCausalLM, LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config

    p = {name: root / name for name in (
        "model", "file", "video", "binary", "latin1_txt", "empty_txt", "empty_dir", "text_dir",
    )}
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    LongVAForCausalLM(cfg).save_pretrained(p["model"], LongVAProcessor(tok, cfg))
    p["file"].write_text("a file where a folder is expected\n")
    write_video(p["video"].with_suffix(".mp4"), [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(4)], fps=1)
    p["video"] = p["video"].with_suffix(".mp4")
    p["binary"].write_bytes(bytes(range(256)) * 4)
    p["latin1_txt"] = root / "latin1.txt"
    p["latin1_txt"].write_bytes("Le café était très bon.\n".encode("latin-1"))
    p["empty_txt"] = root / "empty.txt"
    p["empty_txt"].write_text("   \n")
    p["empty_dir"].mkdir()
    p["text_dir"].mkdir()
    (p["text_dir"] / "notes.md").write_text("no .txt file here\n")
    p.update(_broken_models(root, p["model"]))
    p.update(_configs(root))
    p.update(_plans(root))
    p["pickle_bin"] = root / "payload.bin"
    p["pickle_bin"].write_bytes(pickle.dumps(Payload()))
    return p


def _model_copy(root: Path, model: Path, name: str, edit=None, config_bytes: bytes | None = None) -> Path:
    folder = root / name
    shutil.copytree(model, folder)
    if config_bytes is not None:
        (folder / "config.json").write_bytes(config_bytes)
    if edit is not None:
        raw = json.loads((folder / "config.json").read_text())
        edit(raw)
        (folder / "config.json").write_text(json.dumps(raw))
    return folder


def _broken_models(root: Path, model: Path) -> dict[str, Path]:
    def big(raw):
        raw["lm"]["hf_config"]["hidden_size"] = "big"

    def wider(raw):  # weights no longer fit: the MLP of the saved model is 256 wide
        raw["lm"]["hf_config"]["intermediate_size"] = 128

    def wrong_type(raw):
        raw["model_type"] = "bert"

    pickled = _model_copy(root, model, "m_pickle")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    no_config = _model_copy(root, model, "m_no_config")
    (no_config / "config.json").unlink()
    return {
        "m_list": _model_copy(root, model, "m_list", config_bytes=b"[1, 2, 3]"),
        "m_big": _model_copy(root, model, "m_big", big),
        "m_shape": _model_copy(root, model, "m_shape", wider),
        "m_type": _model_copy(root, model, "m_type", wrong_type),
        "m_binary": _model_copy(root, model, "m_binary", config_bytes=bytes(range(256))),
        "m_latin1": _model_copy(root, model, "m_latin1", config_bytes='{"model_type": "longvä"}'.encode("latin-1")),
        "m_not_json": _model_copy(root, model, "m_not_json", config_bytes=b"{model_type: longva"),
        "m_pickle": pickled,
        "m_no_config": no_config,
    }


def _configs(root: Path) -> dict[str, Path]:
    text = TOY_TEXT.read_text()
    files = {
        "cfg_binary": bytes(range(256)),
        "cfg_latin1": text.replace("runs/train_text_toy", "runs/café").encode("latin-1"),
        "cfg_list": b"- train\n- data\n",
        "cfg_python_tag": b"!!python/object/apply:os.system ['echo pwned']\n",
        "cfg_unknown": (text + "\nbogus_section: 1\n").encode(),
        "cfg_nan_lr": text.replace("lr: 3.0e-3", "lr: .nan").encode(),
        "cfg_inf_lr": text.replace("lr: 3.0e-3", "lr: .inf").encode(),
        "cfg_string_steps": text.replace("steps: 200", "steps: many").encode(),
        "cfg_big_hidden": text.replace("hidden_size: 64", "hidden_size: big").encode(),
        "cfg_bad_yaml": b"train: [unclosed\n",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = root / f"{name}.yaml"
        paths[name].write_bytes(data)
    return paths


def _plans(root: Path) -> dict[str, Path]:
    plans = {"plan_binary": bytes(range(256)) * 8, "plan_empty": b"\n\n", "plan_nonsense": b"just: a mapping\n"}
    paths = {}
    for name, data in plans.items():
        paths[name] = root / f"{name}.md"
        paths[name].write_bytes(data)
    paths["plan_good"] = root / "plan_good.yaml"
    shutil.copyfile(ROOT / "tests" / "ablation" / "fixtures" / "seed_001.yaml", paths["plan_good"])
    return paths
