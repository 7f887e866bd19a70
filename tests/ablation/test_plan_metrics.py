"""Metric names -> canonical ids, params and availability (never a made-up number)."""

from __future__ import annotations

import pytest

from longva.ablation.errors import UnknownMetricError
from longva.ablation.registry import MetricSpec
from longva.recipes.ablation.adapter import longva_registry


def default_metrics():
    """The LongVA recipe's metric registry."""
    return longva_registry().metrics


@pytest.mark.parametrize("name, mid, params", [
    ("V-NIAH accuracy", "vniah", {}),
    ("visual needle in a haystack", "vniah", {}),
    ("Video-MME performance", "videomme", {"frames": 128, "subtitles": False}),
    ("VideoMME w/o subs", "videomme", {"frames": 128, "subtitles": False}),
    ("Video‑MME (long)", "videomme", {"frames": 128, "subtitles": False, "subset": "long"}),
    ("Video-MME @64 frames", "videomme", {"frames": 64, "subtitles": False}),
    ("VQA-v2", "vqav2", {}), ("VQA v2 accuracy", "vqav2", {}), ("GQA", "gqa", {}), ("TextVQA", "textvqa", {}),
    ("RefCOCO", "refcoco", {}), ("OCID", "ocid_ref", {}), ("POPE", "pope", {}), ("AGIEval", "agieval", {}),
    ("ARC Easy", "arc_easy", {}), ("ARC-e", "arc_easy", {}),
    ("Inference Time", "inference_time", {}), ("latency (s)", "inference_time", {}),
    ("training time", "train_time", {}), ("memory usage", "peak_memory", {}), ("throughput", "train_tokens_per_s", {}),
    ("training loss", "train_loss", {}),
])
def test_names_resolve_to_canonical_ids(name, mid, params):
    resolved = default_metrics().resolve(name)
    assert (resolved.id, resolved.params) == (mid, params)
    assert resolved.name == name  # the plan's spelling is kept for display


def test_generic_words_are_dropped_only_before_a_known_name():
    with pytest.raises(UnknownMetricError):
        default_metrics().resolve("accuracy")
    with pytest.raises(UnknownMetricError):
        default_metrics().resolve("ADD(-S)")


def test_video_mme_is_not_available_without_data_and_names_its_proxy(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVA_DATA_DIR", str(tmp_path))
    resolved = default_metrics().resolve("Video-MME performance")
    assert not resolved.available
    assert resolved.status == (f"not available: needs dataset videomme at {tmp_path / 'videomme'}"
                               " (or lmms-eval task 'videomme'); set LONGVA_DATA_DIR")
    assert resolved.proxy == "video_qa_proxy"
    assert resolved.to_json()["reported_alongside"] == "video_qa_proxy (synthetic proxy; not videomme)"
    (tmp_path / "videomme").mkdir()
    (tmp_path / "videomme" / "test.parquet").write_bytes(b"x")  # not the official layout: still absent
    assert not default_metrics().resolve("Video-MME").available


def test_video_mme_is_available_with_a_copy_in_the_official_layout(tmp_path, monkeypatch):
    from longva.eval.videomme_synthetic import write_synthetic_videomme

    monkeypatch.setenv("LONGVA_DATA_DIR", str(tmp_path))
    write_synthetic_videomme(tmp_path / "videomme", videos_per_duration=1)
    resolved = default_metrics().resolve("Video-MME")
    assert resolved.status == f"available: dataset at {tmp_path / 'videomme'}"
    assert resolved.proxy is None and "reported_alongside" not in resolved.to_json()  # the proxy is a fallback


def test_built_in_and_measured_metrics_are_available():
    assert default_metrics().resolve("V-NIAH").available
    assert default_metrics().resolve("GPU memory").status == "available: measured by the runner"
    assert not default_metrics().resolve("Vision Stable Score").available


def test_unknown_metric_lists_closest_and_known():
    with pytest.raises(UnknownMetricError) as err:
        default_metrics().resolve("Video-MMX")
    message = str(err.value)
    assert message.startswith("unknown metric 'Video-MMX'; closest: videomme")
    assert "known: agieval, ai2d" in message and "--skip-unknown-metrics" in message
    assert default_metrics().resolve("Video-MMX", skip_unknown=True).status == "n/a: unknown metric"


def test_plugins_register_metrics_without_touching_the_core():
    registry = longva_registry()
    registry.add_metric(MetricSpec("psnr", ("PSNR", "peak signal-to-noise ratio"), "evaluator", "image PSNR"))
    assert registry.metrics.resolve("PSNR").id == "psnr"
    with pytest.raises(UnknownMetricError):
        default_metrics().resolve("PSNR")  # another registry is untouched
