"""NIAH benchmarks: V-NIAH (a needle frame in a long video) and text NIAH (a passkey in text).

Layout (one idea per file):
- `grid`: lengths x depths and spec parsing; `needles`, `synthetic_needles`: needle sets;
  `haystack`: videos and synthetic haystacks; `embedding_cache`: chunked safetensors cache.
- `sequence`: a cell as runs of named sources and the trie order; `sources`: where rows come
  from; `evaluator`: KV-reusing, chunked, answer-span-only scoring; `cpu_attention`: mask-free
  chunk attention on CPU; `reference`: the original's full-forward scoring (yardstick).
- `vniah` / `text_niah`: cells and sources of each benchmark; `models`: LongVA loading;
  `adapters/`: any video LMM behind one interface (LongVA, LLaVA-OneVision, LLaVA-NeXT-Video,
  Qwen2-VL, Qwen2.5-VL); `tasks/`: task families as data (single, multi, distractor, counting,
  ordering) and THE V-NIAH task builder (`tasks.builder.build_vniah`); `visuals`: cached
  haystack/needle embeddings through an adapter;
  `runner`: resume, rank split, progress; `results`, `plot`, `compare`: files and heatmaps;
  `distributed`: torchrun helpers; `runtime`: device, cache folder; `task_run`, `vniah_run`,
  `cli`: the commands; `demo`: the README's comparison figure.
"""
