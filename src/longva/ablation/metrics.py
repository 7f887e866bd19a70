"""Metric registry: a plan's metric names -> canonical metric ids, params and availability.

Kinds of metric:
- `evaluator`: computed by our own code on synthetic data built by the runner (`vniah`,
  `text_niah`, `video_qa_proxy`), always available;
- `measurement`: measured by the runner while training/evaluating (loss, throughput, memory, time);
- `external`: a benchmark that needs its dataset (Video-MME, MLVU, VQAv2, ...). It is looked for
  at `$LONGVA_DATA_DIR/<dataset>` (default `./data/<dataset>`), or run through lmms-eval when the
  spec names a task; when the data is absent the report says `not available: needs dataset ...`
  instead of a number;
- `undefined`: named in a paper but not reproducible without a definition we have not verified.

Video-MME decision: `Video-MME performance` resolves to the real `videomme` metric. Without the
dataset its cell reads "not available: needs dataset videomme at PATH", and the synthetic
`video_qa_proxy` (long-video multiple-choice QA) is reported *next to it*, always labelled as a
proxy, never under the Video-MME name. Never a made-up number.

Name normalisation (for lookup only; the plan's name is kept for display): lowercase, Unicode
dashes unified, qualifiers parsed into params (`w/o subs` -> subtitles=False, `(long)` ->
subset=long, `@128 frames` -> frames=128), then compared with spaces, `-`, `_` and `.` removed;
trailing generic words (accuracy, performance, score, ...) are dropped only when what remains is
a known alias.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longva.ablation.errors import UnknownMetricError

DATA_DIR_ENV = "LONGVA_DATA_DIR"
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]")
_GENERIC_TAIL = re.compile(r"(?:\s|-|_)*(?:\(%\)|%|accuracy|acc|performance|score|scores|results?|metric)$")


@dataclass(frozen=True)
class MetricSpec:
    id: str
    aliases: tuple[str, ...]
    kind: str  # evaluator | measurement | external | undefined
    summary: str
    dataset: str | None = None  # folder name under LONGVA_DATA_DIR
    lmms_eval_task: str | None = None
    proxy: str | None = None  # a local proxy reported alongside (clearly labelled)
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedMetric:
    name: str  # as written in the plan
    id: str | None
    kind: str | None
    params: dict[str, Any]
    status: str  # "available: ..." | "not available: ..." | "n/a: unknown metric"
    proxy: str | None = None

    @property
    def available(self) -> bool:
        return self.status.startswith("available")

    def label(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.id}({params})" if self.id and params else (self.id or self.name)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "id": self.id, "kind": self.kind, "params": self.params, "status": self.status}
        if self.proxy:
            out["reported_alongside"] = f"{self.proxy} (synthetic proxy; not {self.id})"
        return out


def _key(text: str) -> str:
    return re.sub(r"[\s\-_.]", "", text.lower())


class MetricRegistry:
    def __init__(self, specs: Iterable[MetricSpec] = ()):
        self.specs: dict[str, MetricSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: MetricSpec, replace: bool = False) -> MetricSpec:
        if spec.id in self.specs and not replace:
            raise ValueError(f"metric {spec.id!r} is already registered")
        self.specs[spec.id] = spec
        for alias in (spec.id, *spec.aliases):
            self._aliases[_key(alias)] = spec.id
        return spec

    def copy(self) -> MetricRegistry:
        return MetricRegistry(self.specs.values())

    def lookup(self, name: str) -> tuple[MetricSpec, dict[str, Any]] | None:
        """(spec, params) for a metric name, or None when unknown."""
        text, params = _qualifiers(_DASHES.sub("-", name.strip().lower()))
        key = _key(text)
        while key:
            if key in self._aliases:
                spec = self.specs[self._aliases[key]]
                return spec, {**spec.defaults, **params}
            trimmed = _GENERIC_TAIL.sub("", text).strip()
            if trimmed == text:
                return None
            text, key = trimmed, _key(trimmed)
        return None

    def resolve(self, name: str, data_dir: str | Path | None = None, skip_unknown: bool = False) -> ResolvedMetric:
        found = self.lookup(name)
        if found is None:
            if skip_unknown:
                return ResolvedMetric(name, None, None, {}, "n/a: unknown metric")
            raise UnknownMetricError(f"unknown metric {name!r}; closest: {', '.join(self.closest(name))};"
                                     f" known: {', '.join(sorted(self.specs))} (or --skip-unknown-metrics)")
        spec, params = found
        return ResolvedMetric(name, spec.id, spec.kind, params, _status(spec, data_dir), spec.proxy)

    def closest(self, name: str, n: int = 3) -> list[str]:
        key = _key(name)
        ranked = difflib.get_close_matches(key, list(self._aliases), n=n * 3, cutoff=0.0)
        out: list[str] = []
        for alias in ranked:
            if self._aliases[alias] not in out:
                out.append(self._aliases[alias])
        return out[:n]


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or "data")


def _status(spec: MetricSpec, explicit_dir: str | Path | None) -> str:
    if spec.kind == "evaluator":
        return "available: built-in evaluator on synthetic data"
    if spec.kind == "measurement":
        return "available: measured by the runner"
    if spec.kind == "undefined":
        return f"not available: {spec.summary}"
    path = data_dir(explicit_dir) / (spec.dataset or spec.id)
    if path.is_dir() and any(path.iterdir()):
        return f"available: dataset at {path}"
    via = f" (or lmms-eval task {spec.lmms_eval_task!r})" if spec.lmms_eval_task else ""
    return f"not available: needs dataset {spec.dataset or spec.id} at {path}{via}; set {DATA_DIR_ENV}"


_QUALIFIERS = (
    (re.compile(r"\b(?:w/o|without|no) (?:subs|subtitles?)\b"), "subtitles", False),
    (re.compile(r"\b(?:w/|with) (?:subs|subtitles?)\b"), "subtitles", True),
)
_UNIT = re.compile(r"\((?:s|ms|sec|seconds|min|h|hours|mm|cm|%|x|gb|mb)\)")
_SUBSET = re.compile(r"\(?\b(short|medium|long|overall)\b(?: (?:subset|videos?|split))?\)?")
_FRAMES = re.compile(r"@\s*(\d+)\s*(?:frames?|f)?\b|\b(\d+)\s*frames?\b")


def _qualifiers(text: str) -> tuple[str, dict[str, Any]]:
    """Strip units and qualifiers (into params: subtitles, subset, frames)."""
    params: dict[str, Any] = {}
    text = _UNIT.sub(" ", text)  # units say how a number is written, not which metric it is
    for pattern, key, value in _QUALIFIERS:
        if pattern.search(text):
            params[key] = value
            text = pattern.sub(" ", text)
    if m := _FRAMES.search(text):
        params["frames"] = int(m.group(1) or m.group(2))
        text = _FRAMES.sub(" ", text)
    if (m := _SUBSET.search(text)) and _SUBSET.sub(" ", text).strip():
        params["subset"] = m.group(1)
        text = _SUBSET.sub(" ", text)
    text = re.sub(r"\(\s*\)", " ", text)
    return " ".join(text.split()), params


def _external(mid: str, aliases: tuple[str, ...], summary: str, task: str | None = None, **kw: Any) -> MetricSpec:
    return MetricSpec(mid, aliases, "external", summary, dataset=mid, lmms_eval_task=task, **kw)


BUILTIN_METRICS = (
    MetricSpec("vniah", ("V-NIAH", "VNIAH", "visual needle in a haystack", "video needle in a haystack",
                         "V-NIAH accuracy"), "evaluator",
               "LongVA V-NIAH: argmax exact match over the answer span; mean + per-length curve"),
    MetricSpec("text_niah", ("text NIAH", "needle in a haystack", "NIAH", "passkey retrieval"), "evaluator",
               "text needle-in-a-haystack of the long-context LM"),
    MetricSpec("video_qa_proxy", ("video QA proxy", "synthetic video QA", "long video QA proxy"), "evaluator",
               "synthetic long-video multiple-choice QA; a proxy for Video-MME, never reported as Video-MME"),
    _external("videomme", ("Video-MME", "VideoMME", "Video MME"), "Video-MME multiple-choice accuracy",
              "videomme", proxy="video_qa_proxy", defaults={"frames": 128, "subtitles": False}),
    _external("mlvu", ("MLVU",), "MLVU dev multiple-choice accuracy", "mlvu_dev", proxy="video_qa_proxy"),
    _external("vqav2", ("VQAv2", "VQA-v2", "VQA v2"), "VQAv2 soft accuracy", "vqav2_val"),
    _external("gqa", ("GQA",), "GQA exact match", "gqa"),
    _external("textvqa", ("TextVQA", "Text-VQA"), "TextVQA accuracy", "textvqa_val"),
    _external("vizwiz", ("VizWiz", "VizWiz-VQA"), "VizWiz VQA accuracy", "vizwiz_vqa_val"),
    _external("refcoco", ("RefCOCO",), "RefCOCO box accuracy (IoU >= 0.5)", "refcoco_bbox_rec_val"),
    _external("ocid_ref", ("OCID", "OCID-Ref"), "OCID-Ref box accuracy"),
    _external("pope", ("POPE",), "POPE accuracy", "pope"),
    _external("infovqa", ("InfoVQA", "InfographicVQA"), "InfoVQA ANLS", "infovqa_val"),
    _external("ai2d", ("AI2D",), "AI2D accuracy", "ai2d"),
    _external("chartqa", ("ChartQA",), "ChartQA relaxed accuracy", "chartqa"),
    _external("agieval", ("AGIEval", "AGI Eval"), "AGIEval (text-only, LM-harness style)"),
    _external("arc_easy", ("ARC Easy", "ARC-Easy", "ARC-e", "arc_easy"), "ARC-Easy acc (text-only)"),
    MetricSpec("vision_stable_score", ("Vision Stable Score",), "undefined",
               "aggregate from 'Should VLMs be pre-trained with image data?' whose definition is unverified"),
    MetricSpec("text_stable_score", ("Text Stable Score",), "undefined",
               "aggregate from 'Should VLMs be pre-trained with image data?' whose definition is unverified"),
    MetricSpec("train_loss", ("training loss", "train loss", "final loss", "loss", "language modeling loss"),
               "measurement", "final training loss of each stage"),
    MetricSpec("train_tokens_per_s", ("throughput", "training throughput", "tokens per second", "tokens/s",
                                      "training speed"), "measurement", "training tokens per second"),
    MetricSpec("peak_memory", ("memory", "memory usage", "GPU memory", "peak memory", "memory footprint",
                               "memory consumption"), "measurement", "peak accelerator/host memory"),
    MetricSpec("train_time", ("training time", "train time", "wall-clock training time", "training cost",
                              "training compute"), "measurement", "wall-clock training time"),
    MetricSpec("inference_time", ("inference time", "inference latency", "latency", "inference speed",
                                  "inference cost"), "measurement", "wall-clock evaluation time per sample"),
)

_DEFAULT = MetricRegistry(BUILTIN_METRICS)


def default_metrics() -> MetricRegistry:
    return _DEFAULT


def register_metric(spec: MetricSpec, replace: bool = False, registry: MetricRegistry | None = None) -> MetricSpec:
    """Plugins add metrics here (e.g. a local evaluator for a benchmark)."""
    return (registry or _DEFAULT).register(spec, replace=replace)
