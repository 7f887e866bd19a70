"""Benchmarks on local data, and the answering code lmms-eval shares with them.

- `prefix_answering`: answer several prompts that start with the same visuals (the questions of
  one video) with the visual prefix prefilled once; used by `longva eval videomme` and by the
  lmms-eval plugin (`longva.integrations`), so both give the same answers.
- `videomme_*`: Video-MME without lmms-eval on a local copy in the official layout
  (`videomme_data`), prompt and official scorer (`videomme_scoring`), the frame-count sweep
  (`videomme_run`), its report (`videomme_report`), a synthetic copy (`videomme_synthetic`);
  `videomme` holds the entry points (`available`, `evaluate`); `cli` the commands.

Nothing here imports torch at import time except the modules that run a model.
"""
