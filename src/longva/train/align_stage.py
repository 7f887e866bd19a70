"""The vision alignment stage: LLaVA conversations -> a trained LongVA folder (`longva train align`).

LongVA's recipe (dossier §6, LLaVA-NeXT scripts), see `configs/train_align_longva_7b_stage*.yaml`:
- stage 1 (`pretrain.sh`): projector only, `plain` template (image + caption), LR 1e-3;
- stage 2 (`finetune.sh`): everything, `qwen_1_5` template, UniRes (49 grids), LR 1e-5 with the
  vision tower at 2e-6, the stage-1 projector loaded first;
both with cosine decay after a linear warmup of 3% of the steps, one epoch, weight decay 0.
This module turns an `AlignTrainConfig` into model + data + trainer (the generic resumable
`Trainer`: atomic checkpoints, exact resume) and saves `output_dir/final` at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from longva.data.conversations import ConversationDataset
from longva.errors import ConfigError, InputError
from longva.train.align_data import AlignBatches, AlignDataConfig
from longva.train.align_model import AlignModelConfig, build_align_model, build_align_processor
from longva.train.align_parts import (
    align_loss_fn,
    align_param_groups,
    check_parts,
    set_tunable_parts,
)
from longva.train.trainer import Trainer, TrainerConfig, seed_everything
from longva.utils.dataclass_config import load_config, to_dict
from longva.utils.distributed import ParallelContext, init_parallel
from longva.utils.io import atomic_dir


@dataclass
class AlignTuningConfig:
    """The `stage:` section of an alignment config: what trains, at which LRs, for how long."""

    tunable_parts: list[str] = field(default_factory=lambda: ["projector"])  # ⊆ projector, vision_tower, language_model
    vision_tower_lr: float | None = None  # the original's mm_vision_tower_lr (None: the base LR)
    projector_lr: float | None = None  # mm_projector_lr (None: the base LR)
    warmup_ratio: float | None = None  # warmup steps = ceil(ratio x steps), as transformers' Trainer
    epochs: float | None = None  # when set, train.steps = ceil(epochs x rows / (batch_size x grad_accum))

    def validate(self, where: str = "stage") -> None:
        check_parts(self.tunable_parts, f"{where}.tunable_parts")
        for name in ("vision_tower_lr", "projector_lr", "epochs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{where}.{name}: must be > 0 or null, got {value}")
        if self.warmup_ratio is not None and not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"{where}.warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class AlignTrainConfig:
    model: AlignModelConfig = field(default_factory=AlignModelConfig)
    data: AlignDataConfig = field(default_factory=AlignDataConfig)
    stage: AlignTuningConfig = field(default_factory=AlignTuningConfig)
    train: TrainerConfig = field(default_factory=TrainerConfig)

    def validate(self, where: str = "config") -> None:
        self.model.validate("model")  # also when the section is missing (its defaults are not valid)
        if self.stage.warmup_ratio is not None and self.train.lr_schedule.warmup_steps:
            raise ConfigError(
                "stage.warmup_ratio and train.lr_schedule.warmup_steps are both set; expected one of them"
            )


def load_align_config(path: str | Path, overrides: list[str] | None = None) -> AlignTrainConfig:
    """Read a YAML/JSON config and apply `key.path=value` overrides (YAML-typed values)."""
    cfg = load_config(AlignTrainConfig, path, overrides)
    cfg.validate()
    return cfg


def resolve_schedule(cfg: AlignTrainConfig, num_rows: int) -> TrainerConfig:
    """train.steps from `stage.epochs` and warmup steps from `stage.warmup_ratio`, when set."""
    train = cfg.train
    steps = train.steps
    if cfg.stage.epochs is not None:
        steps = max(1, math.ceil(cfg.stage.epochs * num_rows / (cfg.data.batch_size * train.grad_accum)))
    schedule = train.lr_schedule
    if cfg.stage.warmup_ratio is not None:
        schedule = replace(schedule, warmup_steps=math.ceil(cfg.stage.warmup_ratio * steps))
    return replace(train, steps=steps, lr_schedule=schedule)


def build_dataset(cfg: AlignTrainConfig, processor) -> ConversationDataset:
    return ConversationDataset(cfg.data.path, cfg.data.image_folder, processor, cfg.data.image_mode, cfg.data.system)


def check_align_data(cfg: AlignTrainConfig) -> tuple[ConversationDataset, dict]:
    """Check every row (images present and readable, lengths) before training.

    Returns the dataset (for `run_align_training(dataset=...)`) and a summary. Needs only the
    tokenizer and configs (no weights), so a 7B run fails in seconds, not after loading the
    model. Rows over `data.max_length` are an error under `too_long: error`.
    """
    from longva.utils.progress import make_progress

    dataset = build_dataset(cfg, build_align_processor(cfg.model))
    with make_progress() as progress:
        task = progress.add_task("check data", total=len(dataset))
        summary = dataset.check(cfg.data.max_length, on_row=lambda i: progress.advance(task))
    if summary["too_long"] and cfg.data.too_long == "error":
        row_id, n = summary["too_long"][0]
        raise InputError(
            f"row {row_id}: {n} tokens with its images spliced in, more than data.max_length={cfg.data.max_length}"
            f" ({len(summary['too_long'])} such rows); set data.too_long=skip to leave them out"
        )
    return dataset, summary


def _warn_skip(row_id: str, length: int) -> None:
    from longva.utils.progress import console

    console.print(f"warning: skipped row {row_id}: {length} tokens > data.max_length")


def align_trainer(
    model,
    batches,
    train: TrainerConfig,
    parts: list[str],
    run_config: dict,
    vision_tower_lr: float | None = None,
    projector_lr: float | None = None,
    ctx: ParallelContext | None = None,
    loss_fn=align_loss_fn,
) -> Trainer:
    """THE alignment trainer (`longva train align` and the recipe's S2): only `parts` of the
    LongVA model train, with their own LRs, on the loss of the supervised (answer) tokens."""
    ctx = ctx or ParallelContext()
    set_tunable_parts(model, parts)
    model = model.to(ctx.device)
    opt = train.optimizer
    groups = align_param_groups(model, opt.lr, opt.weight_decay, vision_tower_lr, projector_lr)
    return Trainer(model, loss_fn, batches, groups, train, ctx=ctx, run_config=run_config)


def build_align_trainer(cfg: AlignTrainConfig, ctx=None, dataset: ConversationDataset | None = None):
    """(Trainer, LongVAProcessor) of an alignment run; `dataset` reuses a checked dataset."""
    ctx = ctx or init_parallel(1, False)  # data parallel under torchrun: replicas, all-reduced grads
    seed_everything(cfg.train.seed)  # the same fresh projector on every rank and every run
    model, processor = build_align_model(cfg.model)
    parts = cfg.stage.tunable_parts
    model.config.vision.frozen = "vision_tower" not in parts
    dataset = dataset or build_dataset(cfg, processor)
    on_skip = _warn_skip if ctx.is_main else None
    batches = AlignBatches(dataset, cfg.data, ctx.dp_rank, ctx.dp_size, on_skip=on_skip)
    train = resolve_schedule(cfg, len(dataset))
    run_config = to_dict(replace(cfg, train=train))  # the resolved steps / warmup are what ran
    stage = cfg.stage
    trainer = align_trainer(
        model, batches, train, parts, run_config, stage.vision_tower_lr, stage.projector_lr, ctx
    )
    if stage.warmup_ratio is not None:  # warmup follows the step budget, which a resume may change
        trainer.derived_from_steps = ("lr_schedule.warmup_steps",)
    return trainer, processor


def export_final(trainer: Trainer, processor) -> Path:
    """Save the trained model as a LongVA folder `output_dir/final` (rank 0; others wait)."""
    out = trainer.output_dir / "final"
    if trainer.ctx.is_main:
        with atomic_dir(out) as tmp:  # a kill leaves no half-written final/
            trainer.model.save_pretrained(tmp, processor)
    trainer.ctx.barrier()
    return out


def run_align_training(
    cfg: AlignTrainConfig,
    resume: bool = False,
    max_steps_this_run: int | None = None,
    dataset: ConversationDataset | None = None,
) -> list[dict]:
    """Train (or resume) an alignment run; saves `final/` when the last step is reached."""
    trainer, processor = build_align_trainer(cfg, dataset=dataset)
    history = trainer.fit(resume=resume, max_steps_this_run=max_steps_this_run)
    if trainer.step >= trainer.config.steps:
        export_final(trainer, processor)
    return history
