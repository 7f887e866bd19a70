"""Training library: the long-context text stage and the vision alignment stage.

- `text_stage`  `lm_trainer` (THE text trainer: `longva train text` and the recipe's S0/S1) and
                the config-driven builder of `longva train text`
- `align_stage` `align_trainer` (THE alignment trainer: `longva train align` and the recipe's S2)
                and the config-driven builder of `longva train align`; `align_model`,
                `align_data`, `align_parts`: its starting weights, batches, tunable parts
- `vision_pretrain` `contrastive_trainer`: CLIP/SigLIP pretraining of a tower (the recipe's V0)
- `lm_loss`     a causal LM wrapped as `batch -> (loss_sum, n_tokens)` (`model.loss` underneath)
- `schedules`   LR schedule registry (constant, linear, cosine, exponential, step; warmup)
- `optim`       AdamW parameter groups (no decay on norms/biases, per-prefix LRs)
- `trainer`     generic resumable trainer (grad accumulation, clipping, bf16 autocast, logging)
- `checkpoint`  atomic, verified `step_{n}` checkpoints with exact resume
- `metrics_log` metrics.jsonl (+ optional TensorBoard)
- `distributed` ring attention, context parallel, FSDP2, gradient sync (process groups:
                `longva.utils.distributed`)
"""
