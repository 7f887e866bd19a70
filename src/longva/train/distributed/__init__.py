"""Parallelism applied to an unmodified model from outside: zigzag ring attention / context
parallel (`context_parallel`, `ring_attention`), FSDP2 (`fsdp`),
data-parallel batch slicing (`data_slice`) and gradient all-reduce (`grad_sync`)."""
