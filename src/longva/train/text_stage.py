"""The long-context text stage: raise the RoPE base, train on long packed text.

LongVA's recipe (EasyContext, `text_extend/extend_qwen2.sh`): Qwen2-7B-Instruct with
rope_theta 1e9, 224K-token sequences, constant LR 1e-5, AdamW (0.9, 0.95), 1000 steps of 4
accumulated sequences, zigzag ring attention, bf16 — see `configs/train_text_qwen2_7b_224k.yaml`.
This module turns a `TextTrainConfig` into model + data + trainer; parallelism is applied to the
finished model from outside (context parallel attention, then FSDP2), never inside model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from longva.data.text import TextBatches, TextDataConfig, TextStream
from longva.data.toy.passkey import PasskeyBatches, PasskeyConfig, passkey_vocab
from longva.errors import ConfigError
from longva.model.rope import set_rope_theta
from longva.train.distributed.context_parallel import apply_context_parallel
from longva.train.distributed.data_slice import DataParallelSlice
from longva.train.distributed.fsdp import apply_fsdp
from longva.train.lm_loss import CausalLMLoss, lm_loss_fn
from longva.train.optim import make_param_groups
from longva.train.trainer import Trainer, TrainerConfig, seed_everything
from longva.utils.dataclass_config import load_config, to_dict
from longva.utils.device import parse_dtype
from longva.utils.distributed import ParallelContext, init_parallel
from longva.utils.io import atomic_dir


@dataclass
class TextModelConfig:
    pretrained: str | None = None  # local transformers model folder
    hf_config: dict[str, Any] = field(default_factory=dict)  # or: build from a config (needs model_type)
    rope_theta: float | None = None  # new RoPE base (None keeps the model's)
    max_position_embeddings: int | None = None
    dtype: Literal["float32", "bfloat16"] = "float32"  # weights / optimizer dtype (bf16 compute: train.precision)
    activation_checkpointing: bool = False
    activation_offload: bool = False  # keep checkpointed layer inputs in host memory (GPU only)
    loss_chunk_size: int = 4096  # tokens per chunk of the chunked cross-entropy

    def validate(self, where: str = "model") -> None:
        if (self.pretrained is None) == (not self.hf_config):
            raise ConfigError(
                f"{where}: give exactly one of pretrained (a model folder) or hf_config (a config mapping)"
            )
        if self.hf_config and "model_type" not in self.hf_config:
            raise ConfigError(f"{where}.hf_config: needs a model_type (e.g. qwen2)")
        if self.loss_chunk_size < 1:
            raise ConfigError(f"{where}.loss_chunk_size: must be >= 1, got {self.loss_chunk_size}")


@dataclass
class TextStageData:
    kind: Literal["text", "passkey"] = "text"
    batch_size: int = 1  # sequences per micro-step, over all data-parallel ranks
    text: TextDataConfig = field(default_factory=TextDataConfig)
    passkey: PasskeyConfig = field(default_factory=PasskeyConfig)

    @property
    def seq_length(self) -> int:
        return self.text.seq_length if self.kind == "text" else self.passkey.seq_length


@dataclass
class ParallelConfig:
    context_parallel: int = 1  # ranks sharing one sequence (zigzag ring attention)
    fsdp: bool = False  # shard parameters / grads / optimizer state over all ranks (FSDP2)


@dataclass
class TextTrainConfig:
    model: TextModelConfig = field(default_factory=TextModelConfig)
    data: TextStageData = field(default_factory=TextStageData)
    train: TrainerConfig = field(default_factory=TrainerConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    def validate(self, where: str = "config") -> None:
        self.model.validate("model")  # also when the section is missing (defaults are not valid)
        cp = self.parallel.context_parallel
        if cp > 1 and self.data.seq_length % (2 * cp):
            raise ConfigError(
                f"data seq_length {self.data.seq_length} must be a multiple of 2 x context_parallel = {2 * cp} "
                "(zigzag chunks)"
            )


def load_text_config(path: str | Path, overrides: list[str] | None = None) -> TextTrainConfig:
    """Read a YAML/JSON config and apply `key.path=value` overrides (YAML-typed values)."""
    cfg = load_config(TextTrainConfig, path, overrides)
    cfg.validate()
    return cfg


# -- model --------------------------------------------------------------------------------------
def build_lm(cfg: TextModelConfig) -> torch.nn.Module:
    """The causal LM (random init from `hf_config`, or loaded), with the new RoPE base."""
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = parse_dtype(cfg.dtype, flag="model.dtype")
    if cfg.pretrained:
        if not Path(cfg.pretrained).is_dir():
            raise ConfigError(
                f"model.pretrained: {cfg.pretrained!r} is not a folder; expected a local transformers model"
            )
        lm = AutoModelForCausalLM.from_pretrained(
            cfg.pretrained, dtype=dtype, attn_implementation="sdpa", local_files_only=True
        )
    else:
        kwargs = dict(cfg.hf_config)
        hf_config = AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
        lm = AutoModelForCausalLM.from_config(hf_config, dtype=dtype, attn_implementation="sdpa")
    if cfg.max_position_embeddings:
        lm.config.max_position_embeddings = cfg.max_position_embeddings
    if cfg.rope_theta is not None:
        set_rope_theta(lm, cfg.rope_theta)
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(lm, cfg.activation_offload)
    return lm


def enable_activation_checkpointing(lm: torch.nn.Module, offload: bool = False) -> None:
    """Recompute each decoder layer in backward (transformers >= 5.24 name, older fallback)."""
    kwargs = {"use_reentrant": False}
    if hasattr(lm, "activation_checkpointing_enable"):
        lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs, offload=offload)
    else:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


# -- data ---------------------------------------------------------------------------------------
def build_data(cfg: TextTrainConfig, ctx: ParallelContext, vocab_size: int):
    data = cfg.data
    if data.kind == "passkey":
        if len(passkey_vocab()) > vocab_size:
            raise ConfigError(
                f"model vocab {vocab_size} is smaller than the pass-key vocabulary {len(passkey_vocab())}"
            )
        batches = PasskeyBatches(data.passkey, data.batch_size)
    else:
        text = data.text
        if text.tokenizer is None and cfg.model.pretrained:
            text = TextDataConfig(**{**text.__dict__, "tokenizer": cfg.model.pretrained})
        batches = TextBatches(TextStream(text), data.batch_size)
    return DataParallelSlice(batches, ctx.dp_rank, ctx.dp_size)


# -- run ----------------------------------------------------------------------------------------
def lm_trainer(
    lm: torch.nn.Module,
    batches,
    train: TrainerConfig,
    run_config: dict,
    ctx: ParallelContext | None = None,
    chunk_size: int = 4096,
    fsdp: bool = False,
) -> Trainer:
    """THE text-stage trainer (`longva train text` and the recipe's S0/S1): `lm` under the chunked
    cross-entropy, context parallel attention then FSDP2 applied from outside when `ctx` has them,
    AdamW groups from `train.optimizer`."""
    ctx = ctx or ParallelContext()
    model = CausalLMLoss(lm, chunk_size)
    if ctx.cp_size > 1:
        apply_context_parallel(lm, ctx.cp_group)
    if fsdp and ctx.distributed:
        apply_fsdp(model, ctx.fsdp_mesh)
    model = model.to(ctx.device)
    opt = train.optimizer
    groups = make_param_groups(model.named_parameters(), opt.lr, opt.weight_decay, opt.lr_by_prefix)
    return Trainer(model, lm_loss_fn, batches, groups, train, ctx=ctx, run_config=run_config)


def build_text_trainer(cfg: TextTrainConfig, ctx: ParallelContext | None = None) -> Trainer:
    """The trainer of a `longva train text` config (process groups from torchrun's env)."""
    ctx = ctx or init_parallel(cfg.parallel.context_parallel, cfg.parallel.fsdp)
    seed_everything(cfg.train.seed)  # same init on every rank
    lm = build_lm(cfg.model)
    data = build_data(cfg, ctx, lm.config.vocab_size)
    return lm_trainer(lm, data, cfg.train, to_dict(cfg), ctx, cfg.model.loss_chunk_size, cfg.parallel.fsdp)


def export_final(trainer: Trainer) -> Path:
    """Save the trained LM as a transformers folder `output_dir/final` (collective call)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(trainer.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    out = trainer.output_dir / "final"
    if trainer.ctx.is_main:
        lm = trainer.model.lm
        state = {k.removeprefix("lm."): v for k, v in full.items()}
        attn = lm.config._attn_implementation
        lm.config._attn_implementation = "sdpa"  # the ring is a training-time choice
        with atomic_dir(out) as tmp:  # a kill leaves no half-written final/
            lm.save_pretrained(tmp, state_dict=state)
        lm.config._attn_implementation = attn
    trainer.ctx.barrier()
    return out


def run_text_training(cfg: TextTrainConfig, resume: bool = False, max_steps_this_run: int | None = None) -> list[dict]:
    """Train (or resume) a text stage run; exports `final/` when the last step is reached."""
    trainer = build_text_trainer(cfg)
    history = trainer.fit(resume=resume, max_steps_this_run=max_steps_this_run)
    if trainer.step >= cfg.train.steps:
        export_final(trainer)
    return history
