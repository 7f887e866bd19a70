"""Plugin registration: ours replaces the built-in `longva` wrapper, loads without torch, and
another package's plugin installed next to it is registered too (no manifest warning)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from lmms_helpers import MANIFEST_WARNING, run_lmms_eval, write_jsonl

DEMO_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "longva-test-demo-plugin"
version = "0.0.1"

[project.entry-points."lmms_eval.models"]
demo = "demo_lmms_plugin:manifest"

[tool.setuptools]
py-modules = ["demo_lmms_plugin", "demo_lmms_plugin_model"]
"""

DEMO_MANIFEST = '''
"""A second lmms-eval plugin, light like ours: the model class is in another module."""
from lmms_eval.models.registry_v2 import ModelManifest

manifest = ModelManifest(model_id="demo_plugin_model",
                         simple_class_path="demo_lmms_plugin_model.DemoModel",
                         aliases=("demo_alias",))
'''

DEMO_MODEL = '''
"""Answers every request with the length of its context."""
from lmms_eval.api.model import lmms


class DemoModel(lmms):
    is_simple = True

    def __init__(self, **kwargs):
        super().__init__()

    def generate_until(self, requests):
        return [f"context has {len(r.args[0])} chars" for r in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def generate_until_multi_round(self, requests):
        raise NotImplementedError
'''

REGISTRY_PROBE = """
import json, sys
from lmms_eval.models import MODEL_REGISTRY_V2 as reg
names = ("longva", "longva_native", "demo_plugin_model", "demo_alias")
out = {name: reg.resolve(name).class_path for name in names}
out["torch_imported"] = "torch" in sys.modules
print("PROBE" + json.dumps(out))
"""


def _pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo_plugin(tmp_path_factory):
    """The demo package, pip-installed into this venv for the module, uninstalled after."""
    src = tmp_path_factory.mktemp("demo_plugin")
    (src / "pyproject.toml").write_text(DEMO_PYPROJECT)
    (src / "demo_lmms_plugin.py").write_text(DEMO_MANIFEST)
    (src / "demo_lmms_plugin_model.py").write_text(DEMO_MODEL)
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    yield
    _pip("uninstall", "-y", "longva-test-demo-plugin")


def _probe(tmp_path) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", REGISTRY_PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    line = next((x for x in proc.stdout.splitlines() if x.startswith("PROBE")), None)
    assert line is not None, output
    import json

    return json.loads(line[len("PROBE") :]), output


def test_registry_has_ours_and_the_other_plugin_without_torch(demo_plugin, tmp_path):
    found, output = _probe(tmp_path)
    ours = "longva.integrations.lmms_eval_model.LongVA"
    assert found["longva"] == ours and found["longva_native"] == ours  # the built-in is replaced
    assert found["demo_plugin_model"] == found["demo_alias"] == "demo_lmms_plugin_model.DemoModel"
    assert found["torch_imported"] is False  # both manifest modules stay light
    assert MANIFEST_WARNING not in output


def test_a_run_with_the_other_plugin_prints_no_manifest_warning(demo_plugin, tmp_path, media):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    write_jsonl(tasks / "docs.jsonl", [{"q": "abc"}, {"q": "hello world"}])
    (tasks / "u.py").write_text(
        "def text(doc, lmms_eval_specific_kwargs=None):\n    return doc['q']\n"
        "def none(doc):\n    return []\n"
        "def n(doc, results):\n    return {'n': float(results[0].split()[2])}\n"
    )
    (tasks / "demo_task.yaml").write_text(
        textwrap.dedent(f"""\
        task: demo_task
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {tasks / "docs.jsonl"}
        test_split: test
        output_type: generate_until
        doc_to_visual: !function u.none
        doc_to_text: !function u.text
        doc_to_target: q
        process_results: !function u.n
        metric_list:
          - metric: n
            aggregation: mean
            higher_is_better: true
        """)
    )
    result = run_lmms_eval(tmp_path, "demo_plugin_model", "", "demo_task", tasks)
    assert MANIFEST_WARNING not in result.output
    assert result.results is not None, result.output[-3000:]
    assert result.results["results"]["demo_task"]["n,none"] == pytest.approx((3 + 11) / 2)
