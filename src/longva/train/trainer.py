"""A small, generic, resumable trainer (text long-context stage now, vision alignment later).

The caller brings:
- `model`: any nn.Module, already parallelised (FSDP2 / context parallel are applied outside);
- `loss_fn(model, batch) -> (loss_sum, n_tokens)`: summed token loss and its token count, so
  micro-batches and ranks average exactly (sum of sums / sum of counts);
- `data`: an iterator of batch dicts with `state_dict()` / `load_state_dict()`, already giving
  this data-parallel rank its rows (context-parallel sharding is done here);
- `param_groups`: optimizer groups with their own LRs (`optim.make_param_groups`).

One optimizer step = `grad_accum` micro-batches. Each micro-batch backpropagates its *summed*
loss; after accumulation the gradients are scaled by 1/(global token count), so the update is the
one of the mean loss over every counted token of the step, on any number of ranks. FSDP2
reduce-scatters the gradients as a mean over ranks (hence the extra factor `world`); without
FSDP, gradients are summed with an all-reduce.

Checkpoints (`checkpoint.py`) hold everything needed to continue bit-for-bit: weights, optimizer,
scheduler counters, RNG states and the data position.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from longva.errors import CheckpointError, ConfigError
from longva.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    read_checkpoint,
    remove_stale_temp,
    save_checkpoint,
)
from longva.train.distributed.context_parallel import is_context_parallel, shard_batch
from longva.train.distributed.fsdp import is_fsdp
from longva.train.distributed.grad_sync import all_reduce_grads
from longva.train.metrics_log import MetricsLogger, check_tensorboard, memory_stats
from longva.train.optim import OptimizerConfig, build_optimizer
from longva.train.resume_check import check_resume
from longva.train.schedules import LRScheduleConfig, build_lr_scheduler
from longva.utils.distributed import ParallelContext
from longva.utils.io import atomic_write_json
from longva.utils.progress import make_progress

LossFn = Callable[[torch.nn.Module, dict], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainerConfig:
    output_dir: str = "runs/train"
    steps: int = 1000  # optimizer steps
    grad_accum: int = 1  # micro-batches per optimizer step
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 = autocast (weights and optimizer stay fp32)
    checkpoint_every: int = 200  # steps; the last step is always saved
    keep_last: int = 2  # checkpoints kept (<= 0 keeps all)
    checksums: bool = True  # sha256 of every checkpoint file, verified on resume
    seed: int = 2024  # torch / numpy / python RNG (offset by rank)
    tensorboard: bool = False
    progress: bool = True
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    def validate(self, where: str = "train") -> None:
        for name in ("steps", "grad_accum", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _input_tokens(batch: dict) -> int:
    """Text tokens fed this micro-step: a (B, L) `input_ids`, or variable-length rows in `ids`."""
    if isinstance(batch.get("input_ids"), torch.Tensor):
        return int(batch["input_ids"].numel())
    return sum(len(row) for row in batch.get("ids", []))


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: LossFn,
        data: Iterator[dict],
        param_groups: list[dict],
        config: TrainerConfig,
        ctx: ParallelContext | None = None,
        run_config: dict | None = None,
    ):
        config.validate()
        check_tensorboard(config.tensorboard and (ctx is None or ctx.is_main))
        self.model, self.loss_fn, self.data, self.config = model, loss_fn, data, config
        self.ctx = ctx or ParallelContext()
        if self.ctx.cp_size > 1 and not is_context_parallel(model):
            raise ValueError("context parallel batches need a model switched with apply_context_parallel first")
        if config.precision == "bf16" and self.ctx.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("train.precision: bf16 is not supported by this GPU; use fp32")
        self.run_config = run_config or {}
        self.optimizer = build_optimizer(param_groups, config.optimizer)
        self.scheduler = build_lr_scheduler(self.optimizer, config.lr_schedule, config.steps)
        self.group_names = [g.get("name", f"group{i}") for i, g in enumerate(self.optimizer.param_groups)]
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.step = 0
        self.output_dir = Path(config.output_dir)
        self.logger: MetricsLogger | None = None
        self.derived_from_steps: tuple[str, ...] = ()  # trainer-config paths a resume may see change

    # -- setup -------------------------------------------------------------------------------
    def _prepare(self, resume: bool) -> None:
        """Resume from the newest checkpoint, or refuse to overwrite an existing run."""
        existing = latest_checkpoint(self.output_dir)
        if not resume and existing is not None:
            raise CheckpointError(
                f"output_dir {self.output_dir} already holds checkpoints (newest {existing.name}); pass --resume to "
                "continue it or choose another output_dir"
            )
        seed_everything(self.config.seed + self.ctx.rank)
        state = read_checkpoint(existing, self.ctx) if (resume and existing is not None) else None
        if state is not None:  # refused before anything is loaded or written
            check_resume(state, dataclasses.asdict(self.config), self.run_config, f"output_dir {self.output_dir}",
                         self.derived_from_steps)
            self._warn_if_schedule_changed(state)
            load_checkpoint(existing, self.model, self.optimizer, state, self.ctx)
            self.scheduler.load_state_dict(state["scheduler"])
            self.data.load_state_dict(state["data"])
            self.step = int(state["step"])
        if self.ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp(self.output_dir)
            if self.run_config:  # the full run config, schedule included, next to the metrics
                atomic_write_json(self.output_dir / "run_config.json", self.run_config)
        self.logger = MetricsLogger(self.output_dir, enabled=self.ctx.is_main, tensorboard=self.config.tensorboard)
        self.logger.truncate_after(self.step)  # drop lines of steps that will be recomputed
        self.ctx.barrier()

    def _warn_if_schedule_changed(self, state: dict) -> None:
        old = (state.get("run_config") or {}).get("train", {})
        if self.ctx.is_main and old and old.get("steps") not in (None, self.config.steps):
            from longva.utils.progress import console

            console.print(
                f"warning: resuming a run of {old['steps']} steps with train.steps={self.config.steps}:"
                " the LR schedule is rebuilt for the new total"
            )

    # -- one optimizer step -------------------------------------------------------------------
    def _autocast(self):
        if self.config.precision == "bf16":
            return torch.autocast(self.ctx.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _micro_step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
        batch = _to_device(batch, self.ctx.device)
        if self.ctx.cp_size > 1:
            batch = shard_batch(batch, self.ctx.cp_rank, self.ctx.cp_size)
        with self._autocast():
            loss_sum, n_tokens = self.loss_fn(self.model, batch)
        loss_sum.backward()
        n_inputs = _input_tokens(batch)
        return (
            loss_sum.detach().float(),
            torch.as_tensor(n_tokens, dtype=torch.float32, device=loss_sum.device),
            n_inputs,
        )

    def _sync_and_scale_grads(self, global_tokens: float) -> None:
        """Turn accumulated per-rank grads of summed losses into grads of the global mean loss."""
        fsdp = is_fsdp(self.model)
        if self.ctx.distributed and not fsdp:
            all_reduce_grads(self.params)
        scale = (self.ctx.world if fsdp else 1) / max(global_tokens, 1.0)
        for p in self.params:
            if p.grad is not None:
                p.grad.mul_(scale)

    def _clip(self) -> float:
        clip = self.config.optimizer.grad_clip
        grads = [p for p in self.params if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(grads, clip if clip is not None else math.inf)
        if hasattr(norm, "full_tensor"):  # FSDP2: a DTensor
            norm = norm.full_tensor()
        return float(norm)

    def forward_backward(self) -> torch.Tensor:
        """Accumulate `grad_accum` micro-batches; grads end up those of the global mean loss.

        Returns float64 [loss sum, counted tokens, input tokens] summed over micro-batches and ranks.
        """
        self.model.train()
        stats = torch.zeros(3, dtype=torch.float64)
        for _ in range(self.config.grad_accum):
            loss_sum, n_tokens, n_inputs = self._micro_step(next(self.data))
            stats += torch.tensor([loss_sum.item(), n_tokens.item(), n_inputs], dtype=torch.float64)
        stats = self.ctx.all_reduce_sum(stats.to(self.ctx.device)).cpu()
        self._sync_and_scale_grads(float(stats[1]))
        return stats

    def optimizer_step(self) -> float:
        """Clip, step optimizer and schedule, clear grads; returns the pre-clip grad norm."""
        grad_norm = self._clip()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return grad_norm

    def train_step(self) -> dict:
        """One optimizer step over `grad_accum` micro-batches; returns its metrics."""
        start = time.perf_counter()
        stats = self.forward_backward()
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        grad_norm = self.optimizer_step()
        elapsed = time.perf_counter() - start
        loss = float(stats[0] / stats[1]) if stats[1] > 0 else float("nan")
        return {
            "step": self.step,
            "loss": loss,
            "lr": lrs[0],
            **({f"lr/{n}": lr for n, lr in zip(self.group_names, lrs, strict=True)} if len(lrs) > 1 else {}),
            "grad_norm": grad_norm,
            "tokens": int(stats[2]),
            "loss_tokens": int(stats[1]),
            "tokens_per_s": float(stats[2]) / elapsed,
            "step_time_s": elapsed,
            **memory_stats(self.ctx.device),
        }

    # -- checkpoints --------------------------------------------------------------------------
    def save(self) -> Path:
        state = {
            "data": self.data.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "group_names": self.group_names,
            "run_config": self.run_config,
            "trainer_config": dataclasses.asdict(self.config),  # what a resume is compared with
        }
        return save_checkpoint(
            self.output_dir,
            self.step,
            self.model,
            self.optimizer,
            state,
            self.ctx,
            self.config.keep_last,
            self.config.checksums,
        )

    # -- loop --------------------------------------------------------------------------------
    def fit(self, resume: bool = False, max_steps_this_run: int | None = None) -> list[dict]:
        """Train until `config.steps` (or `max_steps_this_run` more steps); returns the metrics.

        `max_steps_this_run` stops early without a final checkpoint, like a killed run.
        """
        self._prepare(resume)
        history: list[dict] = []
        target = self.config.steps
        if max_steps_this_run is not None:
            target = min(target, self.step + max_steps_this_run)
        progress = make_progress(
            _text("{task.fields[tps]} tok/s"),
            _text("loss {task.fields[loss]}"),
            disable=None if self.config.progress and self.ctx.is_main else True,
        )
        with progress:
            task = progress.add_task("train", total=self.config.steps, completed=self.step, tps="-", loss="-")
            while self.step < target:
                record = self.train_step()
                history.append(record)
                self.logger.log(record)
                progress.update(task, advance=1, tps=f"{record['tokens_per_s']:.0f}", loss=f"{record['loss']:.4f}")
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    self.save()
        self.logger.close()
        return history


def _text(template: str) -> Any:
    from rich.progress import TextColumn

    return TextColumn(template)
