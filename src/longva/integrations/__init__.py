"""Integrations with evaluation frameworks (light: nothing heavy is imported here).

- `lmms_eval_plugin`: the `lmms_eval.models` entry point (`manifest`), read by lmms-eval's model
  registry at start-up without importing torch;
- `lmms_eval_model`: the model class lmms-eval builds for `--model longva` (imported only when
  a run uses it); `lmms_eval_args`: its `--model_args`; `lmms_eval_visuals`: what a task's
  `doc_to_visual` returns -> the model's visual inputs.
"""
