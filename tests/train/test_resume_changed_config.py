"""--resume with a changed config: refused (naming the fields) unless only the step budget changed."""

import hashlib
import json
from pathlib import Path

import pytest

from longva.cli import main as cli_main
from longva.errors import CheckpointError
from longva.train.resume_check import check_resume, config_changes
from longva.train.text_stage import build_text_trainer, load_text_config, run_text_training

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "configs" / "train_text_toy.yaml"
SMALL = {"train.steps": 4, "train.checkpoint_every": 2, "data.batch_size": 2, "data.passkey.seq_length": 32,
         "train.progress": "false"}


def _sets(out, **over) -> list[str]:
    return [f"{k}={v}" for k, v in {"train.output_dir": str(out), **SMALL, **over}.items()]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def half_run(tmp_path):
    """A text run killed after step 2 (its newest checkpoint: step_2)."""
    out = tmp_path / "run"
    build_text_trainer(load_text_config(TOY, _sets(out))).fit(max_steps_this_run=2)
    assert (out / "step_2").is_dir()
    return out


def test_resume_with_another_lr_is_refused_naming_the_field(half_run, capsys):
    before = _snapshot(half_run)
    args = ["train", "text", "--config", str(TOY), "--resume"]
    for item in _sets(half_run, **{"train.optimizer.lr": 0.01}):
        args += ["--set", item]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.optimizer.lr" in err[0] and "0.003" in err[0] and "0.01" in err[0]
    assert "Traceback" not in err[0]
    assert _snapshot(half_run) == before  # run_config.json still records what ran


def test_resume_names_every_changed_field(half_run):
    cfg = load_text_config(TOY, _sets(half_run, **{"train.optimizer.lr": 0.01, "data.passkey.seed": 7,
                                                    "train.grad_accum": 2}))
    with pytest.raises(CheckpointError) as err:
        build_text_trainer(cfg).fit(resume=True)
    message = str(err.value)
    for field in ("train.optimizer.lr", "data.passkey.seed", "train.grad_accum"):
        assert field in message
    assert "step 2" in message


def test_resume_with_a_larger_step_budget_continues_and_records_it(half_run):
    history = run_text_training(load_text_config(TOY, _sets(half_run, **{"train.steps": 6})), resume=True)
    assert [r["step"] for r in history] == [3, 4, 5, 6]
    recorded = json.loads((half_run / "run_config.json").read_text())
    assert recorded["train"]["steps"] == 6 and recorded["train"]["optimizer"]["lr"] == pytest.approx(3e-3)


def test_resume_may_change_where_and_how_often_checkpoints_are_written(half_run):
    cfg = load_text_config(TOY, _sets(half_run, **{"train.keep_last": 5, "train.checkpoint_every": 1}))
    history = run_text_training(cfg, resume=True)
    assert [r["step"] for r in history] == [3, 4]


def test_config_changes_lists_nested_leaves_and_ignores_budget():
    old = {"train": {"steps": 4, "optimizer": {"lr": 1.0, "betas": [0.9, 0.95]}}, "data": {"seed": 0}}
    new = {"train": {"steps": 9, "optimizer": {"lr": 2.0, "betas": (0.9, 0.95)}}, "data": {"seed": 0, "x": 1}}
    changes = config_changes(old, new, {"train.steps"})
    assert changes == [("train.optimizer.lr", 1.0, 2.0), ("data.x", "(absent)", 1)]


def test_check_resume_allows_a_derived_field_only_when_declared():
    state = {"step": 3, "trainer_config": {"steps": 4, "lr_schedule": {"warmup_steps": 1}}}
    new = {"steps": 8, "lr_schedule": {"warmup_steps": 2}}
    with pytest.raises(CheckpointError, match="lr_schedule.warmup_steps"):
        check_resume(state, new, {}, "run")
    check_resume(state, new, {}, "run", ("lr_schedule.warmup_steps",))  # declared derived: accepted
