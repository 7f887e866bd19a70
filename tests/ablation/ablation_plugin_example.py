"""An example plugin: registers a knob and a metric without touching the core (`--plugin ablation_plugin_example`)."""

from longva.ablation.knobs import Knob
from longva.ablation.metrics import MetricSpec, register_metric
from longva.ablation.registry import register_knob

register_knob(Knob(id="example.frobnicator", summary="the frobnicator depth (maps to the align steps)",
                   params={"depth": "stages.s2_align.steps"}, patterns=[(r"\bfrobnicat\w*", 3)], scalar="depth"),
              replace=True)
register_metric(MetricSpec("frob_score", ("frob score",), "measurement", "an example measurement"), replace=True)
