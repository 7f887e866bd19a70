"""The LongVA recipe's adapter to the generic ablation engine (`longva.ablation`).

- `adapter.py`: `register(registry)` (explicit; nothing registers on import), `longva_registry()`,
  `compile_recipe_plan`, `run_recipe_ablation`, and `RecipeView`, the 48 px base the ablations
  run on;
- `recipe_knobs.py`, `phrasings.py`: the recipe's knobs, stage qualifiers and value phrasings;
- `recipe_metrics.py`: the metrics plans can name, with their evaluators (Video-MME included);
- `recipe_target.py`: stages (from `longva.recipes.stage_inputs`), token facts, runs, report columns;
- `visual_tokens.py`: tokens per frame, count scaling and iso-token V-NIAH grids;
- `ablate_cli.py`: the `longva ablate` command.
"""
