"""lmms-eval model plugin: `lmms-eval --model longva --model_args pretrained=DIR,...`.

Registered by `pyproject.toml`:

    [project.entry-points."lmms_eval.models"]
    longva = "longva.integrations.lmms_eval_plugin:manifest"

lmms-eval (0.7.x) loads every `lmms_eval.models` entry point when `lmms_eval.models` is first
imported, all of them inside one `try`: an entry point that fails to load hides the plugins of
every package loaded after it. So this module imports nothing heavy (no torch, no model code)
and `manifest` is a function that only builds the manifest. Plugins are registered with
`overwrite=True` after lmms-eval's built-in models, so `model_id="longva"` replaces lmms-eval's
own LongVA wrapper (which needs the original repository's modules) and LongVA's published
commands run on this package; `longva_native` is an alias.
"""

from __future__ import annotations

MODEL_ID = "longva"
ALIASES = ("longva_native",)
CLASS_PATH = "longva.integrations.lmms_eval_model.LongVA"


def manifest():
    """The `ModelManifest` lmms-eval's registry reads (a callable payload is supported)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH, aliases=ALIASES)
