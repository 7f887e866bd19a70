"""NIAH benchmarks: V-NIAH (a needle frame in a long video) and text NIAH (a passkey in text).

Layout (one idea per file):
- `grid`: lengths x depths and spec parsing; `needles`, `synthetic_needles`: needle sets;
  `haystack`: videos and synthetic haystacks; `embedding_cache`: chunked safetensors cache of
  frame embeddings; `visuals`: haystack/needle embeddings through an adapter, cached.
- `sequence`: a cell as runs of named sources, the sources, and the trie order; `evaluator`:
  KV-reusing, chunked, answer-span-only scoring; `cpu_attention`: mask-free chunk attention on
  CPU; `scoring`: generate-mode matching; `reference`: the original's full-forward scoring.
- Builders, one per benchmark: `tasks.builder.build_vniah` (every V-NIAH task family and model,
  and the recipe) and `text_niah.text_cells` / `text_sources` (`longva niah-text` and the recipe).
- `adapters/`: any video LMM behind one interface (LongVA, LLaVA-OneVision, LLaVA-NeXT-Video,
  Qwen2-VL, Qwen2.5-VL); `tasks/`: task families as data (single, multi, distractor, counting,
  ordering), their prompts and summaries.
- `grid_run`: one grid run (resume, rank split, progress, per-cell records); `results`,
  `layout`, `plot`, `compare`: result files and heatmaps.
- Commands: `vniah_command` (`longva niah run`), `text_niah_command` (`longva niah-text`),
  `cli` (the typer shell); `demo`: the README's comparison figure.
"""
