"""A resume continues the run it resumes, or is refused.

A checkpoint restores the optimizer's state, learning rates included, so resuming with another
`lr` would silently keep the old one while `run_config.json` recorded the new one. Instead, the
config a checkpoint was saved with is compared with the one resuming it, and any difference is
an error naming the fields, except in
- the step budget (`train.steps`, and what a run derives from it): a finished run can be
  extended, and the LR schedule is rebuilt for the new total;
- settings that change no number: where and how often checkpoints are written and kept,
  progress display, TensorBoard, checksums.
"""

from __future__ import annotations

from typing import Any

from longva.errors import CheckpointError

BUDGET_FIELDS = ("steps",)  # of the trainer config
OPERATIONAL_FIELDS = ("output_dir", "progress", "tensorboard", "checkpoint_every", "keep_last", "checksums")
SHOWN = 4  # changed fields named in the message


def config_changes(old: Any, new: Any, ignore: set[str], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, old value, new value) of every leaf that differs, `ignore`d paths left out."""
    if prefix in ignore:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in list(old) + [k for k in new if k not in old]:
            path = f"{prefix}.{key}" if prefix else str(key)
            changes += config_changes(old.get(key, "(absent)"), new.get(key, "(absent)"), ignore, path)
        return changes
    if _normal(old) == _normal(new):
        return []
    return [(prefix or "(config)", old, new)]


def _normal(value: Any) -> Any:
    """JSON round trips turn tuples into lists; compare them as equal."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return value


def trainer_ignored(prefix: str = "") -> set[str]:
    """Trainer-config paths a resume may change (under `prefix`, e.g. 'train' in a run config)."""
    dot = f"{prefix}." if prefix else ""
    return {dot + name for name in (*BUDGET_FIELDS, *OPERATIONAL_FIELDS)}


def check_resume(
    state: dict,
    trainer_config: dict,
    run_config: dict,
    where: str,
    extra_ignored: tuple[str, ...] = (),
) -> None:
    """Refuse to resume `state` (a checkpoint) with another config; `where` names the run.

    `extra_ignored`: trainer-config paths (e.g. 'lr_schedule.warmup_steps') a run derives from the
    step budget, so they may change with it.
    """
    changes: list[tuple[str, Any, Any]] = []
    saved = state.get("trainer_config")
    if saved:  # checkpoints written before this check have none: only the run config is compared
        ignored = trainer_ignored() | set(extra_ignored)
        changes += [(f"train.{p}", a, b) for p, a, b in config_changes(saved, trainer_config, ignored)]
    old_run = state.get("run_config")
    if old_run and run_config:
        ignored = trainer_ignored("train") | {f"train.{name}" for name in extra_ignored}
        changes += config_changes(old_run, run_config, ignored)
    if not changes:
        return
    unique = list({path: (path, a, b) for path, a, b in changes}.values())
    shown = "; ".join(f"{path} {a!r} -> {b!r}" for path, a, b in unique[:SHOWN])
    more = f" and {len(unique) - SHOWN} more" if len(unique) > SHOWN else ""
    raise CheckpointError(
        f"--resume of {where} (step {state.get('step')}) with a changed config: {shown}{more}; expected the"
        " checkpoint's values (only the step budget, train.steps, may change) or a new output_dir"
    )
