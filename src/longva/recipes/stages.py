"""The recipe's training stages, each a function from inputs to a saved artefact folder.

    s0_text  : tokenizer + tiny LM from scratch  -> <dir>/lm (HF folder), <dir>/tokenizer files
    s1_long  : s0 LM, RoPE base raised, longer text -> <dir>/lm
    s2_align : an LM + a fresh vision tower/projector, short multi-grid images -> <dir> (LongVA folder)

Each stage builds its trainer through the `longva.train` stage code that `longva train text|align`
uses (`text_stage.lm_trainer`, `align_stage.align_trainer`, `vision_pretrain.contrastive_trainer`);
here only the recipe's data and its config -> `TrainerConfig` mapping live. The trainer
checkpoints inside the stage's working folder, so a killed stage resumes from its last checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from longva.data.indexed import IndexedBatches
from longva.data.toy.colours import (
    COLOURS,
    AlignmentTask,
    CaptionedImages,
    TextRetrievalTask,
    anchor_frames,
    filler_words,
    needle_word_ids,
    tokenizer_corpus,
)
from longva.model.image_processing import normalise_pixels
from longva.model.loss import next_token_targets
from longva.model.modeling_longva import LongVAForCausalLM, build_lm_config
from longva.model.processor import LongVAProcessor
from longva.model.prompt import get_template
from longva.model.rope import get_rope_theta, with_rope_theta
from longva.model.tiny import build_tiny_tokenizer
from longva.recipes.config import (
    AlignStageConfig,
    RecipeConfig,
    TextStageConfig,
    VisionPretrainConfig,
)
from longva.train.align_parts import align_loss_fn
from longva.train.align_stage import align_trainer
from longva.train.anchor_stage import anchor_trainer, with_anchor_loss
from longva.train.checkpoint import latest_checkpoint
from longva.train.optim import OptimizerConfig
from longva.train.schedules import LRScheduleConfig
from longva.train.text_stage import lm_trainer
from longva.train.trainer import Trainer, TrainerConfig
from longva.train.vision_pretrain import (
    build_dual_encoder,
    contrastive_trainer,
    load_tower_weights,
    tower_state_dict,
)
from longva.utils.dataclass_config import to_dict

# ---- shared builders ----------------------------------------------------------------------------


def build_tokenizer(cfg: RecipeConfig):
    template = get_template(cfg.model.template)
    chats = [
        template.render([("user", cfg.text.question), ("assistant", c)], add_generation_prompt=False) for c in COLOURS
    ]
    corpus = tokenizer_corpus(cfg.text.question, seed=cfg.seed, chats=chats)
    return build_tiny_tokenizer(corpus, vocab_size=cfg.text.vocab_size)


def model_config(cfg: RecipeConfig, tokenizer, rope_theta: float | None = None):
    """The recipe's LongVAConfig with the vocabulary of `tokenizer` and an optional RoPE base."""
    mc = copy.deepcopy(cfg.model)
    mc.lm.hf_config = {**mc.lm.hf_config, "vocab_size": len(tokenizer)}
    mc.lm.rope_theta = rope_theta if rope_theta is not None else mc.lm.rope_theta
    return mc


def new_lm(cfg: RecipeConfig, tokenizer, rope_theta: float):
    torch.manual_seed(cfg.seed)
    lm = AutoModelForCausalLM.from_config(build_lm_config(model_config(cfg, tokenizer, rope_theta)))
    lm.config._attn_implementation = "sdpa"
    return lm


def load_lm(path: Path):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar for a tiny local folder
    lm = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    lm.config._attn_implementation = "sdpa"
    return lm


# ---- data iterators (resumable: batch i depends on the seed and i only) ---------------------------


def step_shape(stage: TextStageConfig, seed: int, i: int) -> tuple[int, int, int]:
    """(sequence length, rows, needle copies) of step i: the easy curriculum, then the length mix."""
    if i < stage.easy_steps:  # short haystacks, several needle copies
        return stage.easy_seq_len, stage.batch_size, stage.easy_needle_copies
    if not stage.min_seq_len:
        return stage.seq_len, stage.batch_size, 1
    u = np.random.default_rng([seed, i, 7]).random()
    seq_len = int(round(stage.min_seq_len * (stage.seq_len / stage.min_seq_len) ** u))  # log-uniform
    return seq_len, max(1, stage.batch_size * stage.seq_len // seq_len), 1


def text_batches(task: TextRetrievalTask, stage: TextStageConfig, seed: int) -> IndexedBatches:
    def make(i):
        seq_len, rows, copies = step_shape(stage, seed, i)
        batch = task.batch(seed, i, seq_len, rows, copies, stage.row_len_spread)
        return {"input_ids": batch["input_ids"], "labels": next_token_targets(batch["labels"])}

    return IndexedBatches(make)


# ---- stages ---------------------------------------------------------------------------------------------


def _trainer_config(
    workdir: Path, steps: int, lr: float, schedule, weight_decay: float, grad_clip, checkpoint_every, seed
):
    return TrainerConfig(
        output_dir=str(workdir / "train"),
        steps=steps,
        checkpoint_every=checkpoint_every,
        keep_last=1,
        seed=seed,
        lr_schedule=schedule,
        optimizer=OptimizerConfig(lr=lr, weight_decay=weight_decay, grad_clip=grad_clip),
    )


def _fit(trainer: Trainer, workdir: Path) -> list[dict]:
    resume = latest_checkpoint(workdir / "train") is not None
    return trainer.fit(resume=resume)


def train_text(
    lm, processor, cfg: RecipeConfig, stage: TextStageConfig, workdir: Path, seed: int
) -> tuple[torch.nn.Module, list[dict]]:
    """Train `lm` on the colour retrieval text at `stage.seq_len` with RoPE base `stage.rope_theta`."""
    if get_rope_theta(lm.config) != stage.rope_theta:
        lm = with_rope_theta(lm, stage.rope_theta)  # rebuilds inv_freq; weights untouched
    task = TextRetrievalTask(processor, cfg.text.question, cfg.text.random_filler_fraction, cfg.text.supervise,
                             stage.decoy_fraction)
    tcfg = _trainer_config(workdir, stage.steps, stage.lr, stage.lr_schedule, stage.weight_decay,
                           stage.grad_clip, stage.checkpoint_every, seed)
    trainer = lm_trainer(lm, text_batches(task, stage, seed), tcfg, to_dict(stage), chunk_size=4096)
    history = _fit(trainer, workdir)
    return lm, history


def caption_batches(cfg: RecipeConfig, stage: VisionPretrainConfig, tokenizer, seed: int) -> IndexedBatches:
    """Captioned synthetic images, tokenised (each caption ends with the EOS the text model pools at)."""
    vision = cfg.model.vision
    data = CaptionedImages(vision.image_size, stage.square_fraction)

    def make(i):
        pixels, captions = data.batch(seed, i, stage.batch_size)
        rows = [tokenizer.encode(c, add_special_tokens=False) + [tokenizer.eos_token_id] for c in captions]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, row in enumerate(rows):
            ids[j, : len(row)], mask[j, : len(row)] = torch.tensor(row), 1
        return {"input_ids": ids, "attention_mask": mask,
                "pixel_values": normalise_pixels(pixels, vision.image_mean, vision.image_std)}

    return IndexedBatches(make)


def train_vision(cfg: RecipeConfig, tokenizer, workdir: Path, seed: int) -> tuple[dict, list[dict]]:
    """Contrastive pretraining of the recipe's tower; returns its weights (VisionTower.model keys)."""
    stage = cfg.stages.v0_vision
    torch.manual_seed(seed)
    model = build_dual_encoder(cfg.model.vision, stage.text_tower, len(tokenizer), tokenizer.eos_token_id,
                               tokenizer.pad_token_id)
    tcfg = _trainer_config(workdir, stage.steps, stage.lr, stage.lr_schedule, 0.1, 1.0, stage.checkpoint_every, seed)
    trainer = contrastive_trainer(model, caption_batches(cfg, stage, tokenizer, seed), tcfg, to_dict(stage))
    history = _fit(trainer, workdir)
    return tower_state_dict(model), history


def tunable_parts(stage: AlignStageConfig, vision_frozen: bool) -> list[str]:
    """The stage's tunable parts; `model.vision.frozen = true` keeps the tower out of them."""
    return [p for p in stage.tunable_parts if not (p == "vision_tower" and vision_frozen)]


def train_align(model: LongVAForCausalLM, processor, stage: AlignStageConfig, question: str, workdir: Path, seed: int):
    """Stage 2: train the tunable parts (projector and tower) on short multi-grid images; LM frozen."""
    parts = tunable_parts(stage, model.config.vision.frozen)
    task = AlignmentTask(processor, question, stage.min_grids, stage.max_grids, stage.data_mix, stage.supervise,
                         stage.easy_steps, stage.easy_max_grids, stage.easy_needle_copies, stage.same_grids_per_batch)

    anchors = anchor_batches(model, processor.tokenizer, stage, seed + 1000) if stage.anchor_weight > 0 else None

    def make(i):
        b = task.batch(seed, i, stage.batch_size)
        extra = anchors.batch(i) if anchors is not None else {}
        return {"ids": b["input_ids"], "label_rows": b["labels"], "visuals": b["visuals"]} | extra

    loss_fn = with_anchor_loss(align_loss_fn, stage.anchor_weight) if anchors is not None else align_loss_fn
    tcfg = _trainer_config(workdir, stage.steps, stage.lr, stage.lr_schedule, 0.0, 1.0, stage.checkpoint_every, seed)
    trainer = align_trainer(model, IndexedBatches(make), tcfg, parts, to_dict(stage), stage.vision_tower_lr,
                            loss_fn=loss_fn)
    return _fit(trainer, workdir)


def anchor_batches(model: LongVAForCausalLM, tokenizer, stage: AlignStageConfig, seed: int) -> IndexedBatches:
    """S2a's pairs: needle frames -> their colour's word; haystack frames -> the filler words."""
    vision, word_ids = model.config.vision, needle_word_ids(tokenizer)
    filler = filler_words(tokenizer)  # (K,)

    def make(i):
        pixels, names = anchor_frames(seed, i, stage.batch_size, vision.image_size)
        ids = torch.zeros(len(names), len(filler), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, name in enumerate(names):
            words = filler if name is None else torch.tensor([word_ids[name]])
            ids[row, : len(words)], mask[row, : len(words)] = words, 1
        return {"pixel_values": normalise_pixels(pixels, vision.image_mean, vision.image_std),
                "target_ids": ids, "target_mask": mask}

    return IndexedBatches(make)


def anchor_projector(model: LongVAForCausalLM, tokenizer, stage: AlignStageConfig, workdir: Path, seed: int):
    """S2a: the projector alone learns to put a needle frame at its colour word's embedding and a
    haystack frame at the filler words' mean (LLaVA's stage 1 for this LM: pictures become words)."""
    if stage.anchor_steps == 0:
        return []
    tcfg = _trainer_config(workdir, stage.anchor_steps, stage.anchor_lr, LRScheduleConfig(), 0.0, 1.0,
                           stage.checkpoint_every, seed)
    run_config = {"anchor_steps": stage.anchor_steps, "anchor_lr": stage.anchor_lr, "batch_size": stage.batch_size}
    trainer = anchor_trainer(model, anchor_batches(model, tokenizer, stage, seed), tcfg, run_config)
    return _fit(trainer, workdir)


def fresh_vision_model(cfg: RecipeConfig, tokenizer, lm, scheme: str | None = None,
                       tower_weights: dict | None = None) -> tuple[LongVAForCausalLM, LongVAProcessor]:
    """A LongVA model around `lm` with a seeded random projector and a pretrained (or random) tower."""
    mc = model_config(cfg, tokenizer, get_rope_theta(lm.config))
    if scheme is not None:
        mc.encoding.scheme = scheme
    torch.manual_seed(cfg.seed + 1)
    np.random.seed(cfg.seed + 1)
    model = LongVAForCausalLM(mc, language_model=lm)
    if tower_weights is not None:
        load_tower_weights(model.vision_tower, tower_weights)
    if cfg.stages.s2_align.zero_init_projector_output:
        zero_last_linear(model.projector)
    return model, LongVAProcessor(tokenizer, mc)


@torch.no_grad()
def zero_last_linear(module: torch.nn.Module) -> None:
    """Zero the last nn.Linear of `module` (its output starts at 0, its gradient does not)."""
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        linears[-1].weight.zero_()
        if linears[-1].bias is not None:
            linears[-1].bias.zero_()
