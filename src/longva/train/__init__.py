"""Training library: long-context text stage (and, later, vision alignment).

- `loss`        chunked cross-entropy that never builds the (B, L, V) logits
- `schedules`   LR schedule registry (constant, linear, cosine, exponential, step; warmup)
- `optim`       AdamW parameter groups (no decay on norms/biases, per-prefix LRs)
- `rope`        `set_rope_theta` / `with_rope_theta`: change the RoPE base of an LM
- `trainer`     generic resumable trainer (grad accumulation, clipping, bf16 autocast, logging)
- `checkpoint`  atomic, verified `step_{n}` checkpoints with exact resume
- `metrics_log` metrics.jsonl (+ optional TensorBoard)
- `lm_loss`     a causal LM wrapped as `batch -> (loss_sum, n_tokens)`
- `text_stage`  config + builder for the text stage (`longva train text`)
- `distributed` ring attention, context parallel, FSDP2, process groups, gradient sync
"""
