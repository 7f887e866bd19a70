"""An example plugin: adds a knob and a metric without touching the core (`--plugin ablation_plugin_example`)."""

from longva.ablation.knobs import Knob
from longva.ablation.registry import MetricSpec


def register(registry):
    registry.add_knob(Knob(id="example.frobnicator", summary="the frobnicator depth (maps to the align steps)",
                           params={"depth": "stages.s2_align.steps"}, patterns=[(r"\bfrobnicat\w*", 3)],
                           scalar="depth"), replace=True)
    registry.add_metric(MetricSpec("frob_score", ("frob score",), "measurement", "an example measurement"),
                        replace=True)
