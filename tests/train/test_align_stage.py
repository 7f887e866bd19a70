"""The alignment stage: what trains, at which LR, projector hand-over, exact resume, the CLI."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from longva.cli import main as cli_main
from longva.data.toy.align_folder import make_toy_dataset
from longva.errors import CheckpointError
from longva.model.modeling_longva import LongVAForCausalLM
from longva.train.align_model import AlignModelConfig, build_align_model
from longva.train.align_stage import build_align_trainer, load_align_config, run_align_training

TOY = Path(__file__).resolve().parents[2] / "configs" / "train_align_toy.yaml"
ALL_PARTS = "[projector,vision_tower,language_model]"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("align_toy"), n=8)


def _sets(toy, out, **over):
    sets = {
        "model.language_model": toy["lm"], "model.vision_tower": toy["clip"], "data.path": toy["conversations"],
        "data.image_folder": toy["images"], "train.output_dir": out, "train.steps": 4, "train.checkpoint_every": 2,
        "data.batch_size": 2, **over,
    }
    return [f"{k}={v}" for k, v in sets.items()]


def _cfg(toy, out, **over):
    return load_align_config(TOY, _sets(toy, out, **over))


def _params(model, prefix):
    return {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith(prefix)}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stage1_plain_trains_only_the_projector_and_stage2_loads_it(toy, tmp_path):
    cfg = _cfg(toy, tmp_path / "s1", **{"model.template": "plain", "data.path": toy["captions"],
                                         "stage.tunable_parts": "[projector]", "train.steps": 2})
    trainer, _ = build_align_trainer(cfg)
    model = trainer.model
    before = {p: _params(model, p) for p in ("language_model.", "vision_tower.", "projector.")}
    trained = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.projector.parameters()}
    trainer.fit(max_steps_this_run=1)
    assert _same(_params(model, "language_model."), before["language_model."])
    assert _same(_params(model, "vision_tower."), before["vision_tower."])
    after = _params(model, "projector.")
    assert all(not torch.equal(after[k], before["projector."][k]) for k in after)

    run_align_training(cfg, resume=True)  # finish stage 1 -> s1/final
    stage1 = LongVAForCausalLM.from_pretrained(tmp_path / "s1" / "final")
    # stage 2 starts from the LM + tower folders and the stage-1 projector (--pretrain_mm_mlp_adapter)
    model2, _ = build_align_model(
        AlignModelConfig(
            language_model=str(toy["lm"]),
            vision_tower=str(toy["clip"]),
            pretrained_projector=str(tmp_path / "s1" / "final"),
        )
    )
    assert _same(_params(model2, "projector."), _params(stage1, "projector."))


def test_projector_file_in_the_original_layout_loads(toy, tmp_path):
    source, _ = build_align_model(AlignModelConfig(language_model=str(toy["lm"]), vision_tower=str(toy["clip"])))
    torch.manual_seed(7)
    weights = {f"model.mm_projector.{k}": torch.randn_like(v) for k, v in source.projector.state_dict().items()}
    save_file(weights, tmp_path / "mm_projector.safetensors")
    model, _ = build_align_model(
        AlignModelConfig(
            language_model=str(toy["lm"]),
            vision_tower=str(toy["clip"]),
            pretrained_projector=str(tmp_path / "mm_projector.safetensors"),
        )
    )
    assert all(torch.equal(v, weights[f"model.mm_projector.{k}"]) for k, v in model.projector.state_dict().items())
    bad = {"model.mm_projector.0.weight": torch.zeros(3, 3)}
    save_file(bad, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError) as e:
        build_align_model(AlignModelConfig(language_model=str(toy["lm"]), vision_tower=str(toy["clip"]),
                                           pretrained_projector=str(tmp_path / "bad.safetensors")))
    assert "\n" not in str(e.value) and "bad.safetensors" in str(e.value)


def test_stage2_vision_tower_gets_its_own_lr(toy, tmp_path):
    cfg = _cfg(toy, tmp_path / "s2", **{"stage.tunable_parts": ALL_PARTS, "stage.vision_tower_lr": 2e-6,
                                         "train.optimizer.lr": 1e-5, "stage.projector_lr": 1e-4})
    trainer, _ = build_align_trainer(cfg)
    model = trainer.model
    hf_tower = model.vision_tower.model  # 2 layers, select_layer -2: layer 1 and post_layernorm never run
    tower = {
        id(p) for m in (hf_tower.embeddings, hf_tower.pre_layrnorm, hf_tower.encoder.layers[0]) for p in m.parameters()
    }
    never_run = {id(p) for m in (hf_tower.encoder.layers[1], hf_tower.post_layernorm) for p in m.parameters()}
    projector = {id(p) for p in model.projector.parameters()}
    lm = {id(p) for p in model.language_model.parameters()}
    seen = set()
    for group in trainer.optimizer.param_groups:
        ids = {id(p) for p in group["params"]}
        seen |= ids
        expected = 2e-6 if ids <= tower else 1e-4 if ids <= projector else 1e-5 if ids <= lm else None
        assert group["initial_lr"] == expected, group["name"]
    assert seen == tower | projector | lm  # everything that runs trains in stage 2
    assert not seen & never_run  # no grads ever: frozen, so resume finds every optimizer state


def test_kill_and_resume_reproduces_the_loss_sequence(toy, tmp_path):
    sets = {"train.steps": 5, "stage.tunable_parts": ALL_PARTS, "stage.vision_tower_lr": 1e-4}
    full = run_align_training(_cfg(toy, tmp_path / "full", **sets))
    assert [r["step"] for r in full] == [1, 2, 3, 4, 5]
    killed_trainer, _ = build_align_trainer(_cfg(toy, tmp_path / "run", **sets))
    killed = killed_trainer.fit(max_steps_this_run=3)  # "dies" after step 3, newest checkpoint step_2
    assert [r["loss"] for r in killed] == [r["loss"] for r in full[:3]]
    resumed = run_align_training(_cfg(toy, tmp_path / "run", **sets), resume=True)
    assert [r["step"] for r in resumed] == [3, 4, 5]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in full[2:]], rel=0, abs=1e-6)
    assert [r["lr"] for r in resumed] == [r["lr"] for r in full[2:]]
    a = load_file(tmp_path / "full" / "final" / "model.safetensors")
    b = load_file(tmp_path / "run" / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- CLI --------------------------------------------------------------------------------------------


def _cli(toy, out, *extra, **over):
    args = ["train", "align", "--config", str(TOY)]
    for item in _sets(toy, out, **over):
        args += ["--set", item]
    return cli_main(args + list(extra))


def _errors(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]


def test_cli_end_to_end_and_final_folder_loads(toy, tmp_path, capsys):
    out = tmp_path / "cli"
    assert _cli(toy, out, "--check-data", **{"train.steps": 2}) == 0
    model = LongVAForCausalLM.from_pretrained(out / "final")
    trained = load_file(out / "step_2" / "model.safetensors")
    assert torch.equal(model.projector.state_dict()["0.weight"], trained["projector.0.weight"])
    assert model.config.template == "qwen_1_5" and model.config.encoding.max_grids == 4
    assert "data ok: 8 rows" in capsys.readouterr().err


def test_cli_bad_config_and_unknown_schedule_are_one_line(toy, tmp_path, capsys):
    assert _cli(toy, tmp_path / "a", **{"stage.tunable_parts": "[projector,ears]"}) == 2
    (line,) = _errors(capsys)
    assert "ears" in line and "vision_tower" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text(TOY.read_text().replace("kind: cosine", "kind: warmup_cosine"))
    assert (
        cli_main(
            ["train", "align", "--config", str(bad)] + [a for s in _sets(toy, tmp_path / "b") for a in ("--set", s)]
        )
        == 2
    )
    (line,) = _errors(capsys)
    assert "warmup_cosine" in line and "cosine" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_missing_image_is_one_line_and_writes_nothing(toy, tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text(Path(toy["conversations"]).read_text().replace("img_003.png", "img_missing.png"))
    out = tmp_path / "out"
    assert _cli(toy, out, "--check-data", **{"data.path": data}) == 2
    (line,) = _errors(capsys)
    assert "row conv_003" in line and "img_missing.png" in line
    assert not out.exists()  # checked before the model loads and before anything is written
    # without --check-data the row fails when it is drawn: same line, no checkpoint, no final/
    assert _cli(toy, out, **{"data.path": data, "data.shuffle": "false", "train.steps": 4}) == 2
    (line,) = _errors(capsys)
    assert "row conv_003" in line and "img_missing.png" in line
    assert not list(out.glob("step_*")) and not (out / "final").exists()
