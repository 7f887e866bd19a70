"""`longva ablate` on an architecture plan at toy scale: every variant (fused and ResNet towers,
Gemma and Mistral LMs, text-first and interleaved prompts, prefix-LM attention) trains every stage
it re-runs and is scored on V-NIAH, and the trained model carries the option it ablates."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from ablate_run_helpers import tiny_base_set

from longva.cli import main

PLAN = """
### Vision Encoder Ablation
- **Ablated Part**: Vision encoder
- **Action**: REPLACE
- **Replacement**:
  - DINO-SigLIP fused
  - ResNet-50 backbone
- **Metrics**: V-NIAH accuracy

### LLM Backbone Ablation
- **Ablated Part**: Language model backbone
- **Action**: REPLACE
- **Replacement**:
  - Gemma
  - Mistral 7B
- **Metrics**: V-NIAH accuracy

### Visual Token Position Ablation
- **Ablated Part**: Position of image tokens in the prompt
- **Action**: REPLACE
- **Replacement**:
  - text first
  - interleaved
- **Metrics**: V-NIAH accuracy

### Attention Mask Ablation
- **Ablated Part**: Attention mask over the visual tokens
- **Action**: REPLACE
- **Replacement**:
  - PrefixLM
- **Metrics**: V-NIAH accuracy
"""

# variant -> (config key path in the trained model's config.json, expected value)
EXPECTED = {
    "DINO-SigLIP fused": (("vision", "type"), "fused"), "ResNet-50 backbone": (("vision", "type"), "resnet"),
    "Gemma": (("lm", "model_type"), "gemma"), "Mistral 7B": (("lm", "model_type"), "mistral"),
    "text first": (("visual_position",), "after_text"), "interleaved": (("visual_position",), "interleaved"),
    "PrefixLM": (("attention",), "prefix_lm"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("arch")
    plan = root / "architecture.md"
    plan.write_text(PLAN)
    out = root / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["ablate", str(plan), "--quick", "--threads", "1", "--out", str(out),
                     "--base-set", tiny_base_set()])
    assert code == 0
    return out, json.loads((out / "results.json").read_text())


def _trained_configs(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "cache").glob("s2_align-*/model/config.json"))]


def test_every_architecture_variant_runs_and_is_scored(run):
    out, results = run
    rows = {r["variant"]: r for e in results["entries"] for r in e["rows"]}
    assert set(EXPECTED) <= set(rows)
    for variant in EXPECTED:
        mean = rows[variant]["cells"]["vniah"]["mean"]
        assert isinstance(mean, float) and 0.0 <= mean <= 1.0, (variant, rows[variant]["cells"]["vniah"])


def test_each_trained_model_carries_its_option(run):
    out, _ = run
    configs = _trained_configs(out)
    assert len(configs) == len(EXPECTED) + 1  # one aligned model per variant, plus the base
    for variant, (path, value) in EXPECTED.items():
        found = []
        for cfg in configs:
            for key in path:
                cfg = cfg.get(key, {}) if isinstance(cfg, dict) else {}
            found.append(cfg)
        assert found.count(value) == 1, (variant, found)
