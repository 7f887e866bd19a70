"""RecipeRunner: the recipe's stages behind a content-addressed cache.

Every stage is computed once per (config subset, upstream stages) and stored under
`<cache>/<stage>-<hash>/`; a variant config (an ablation, a baseline) only recomputes the
stages whose inputs changed. Killed runs resume: finished stages are reused, an unfinished
training stage continues from its last checkpoint, an unfinished evaluation from its last cell.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.recipes.cache import StageDir, stage_key
from longva.recipes.config import RecipeConfig
from longva.recipes.evaluation import run_text_niah, run_video_qa_proxy, run_vniah
from longva.recipes.stage_inputs import stage_config
from longva.recipes.stages import (
    anchor_projector,
    build_tokenizer,
    fresh_vision_model,
    load_lm,
    new_lm,
    train_align,
    train_text,
    train_vision,
)
from longva.utils.io import atomic_write_json
from longva.utils.progress import console


@dataclass
class StageResult:
    name: str
    key: str
    path: Path
    info: dict


class RecipeRunner:
    def __init__(self, cfg: RecipeConfig, cache_root: str | Path, log=None, dry_run: bool = False):
        self.cfg = cfg
        self.cache_root = Path(cache_root)
        self.log = log or (lambda msg: console.print(msg))
        self.dry_run = dry_run  # every stage returns its key and folder; nothing is computed or read
        self._tokenizer = None
        self.timings: dict[str, float] = {}

    # ---- plumbing --------------------------------------------------------------------------------

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = build_tokenizer(self.cfg)
        return self._tokenizer

    def _stage(self, name: str, config, upstream: dict[str, str], compute) -> StageResult:
        key = stage_key(name, config, upstream)
        sd = StageDir(self.cache_root, name, key)
        if self.dry_run:
            return StageResult(name, key, sd.final, {})
        if sd.done:
            return self._cached(sd)
        with sd.lock(lambda: self.log(f"[dim]{name}: another process is computing {sd.final.name}; waiting[/dim]")):
            if sd.done:  # that process finished it
                return self._cached(sd)
            self.log(f"[bold]{name}[/bold]: running -> {sd.final.name}")
            start = time.perf_counter()
            info = compute(sd.begin()) or {}
            info = {**info, "seconds": round(time.perf_counter() - start, 2), "threads": torch.get_num_threads(),
                    "upstream": upstream}
            self.timings[name] = info["seconds"]
            return StageResult(name, key, sd.finish(info), info)

    def _cached(self, sd: StageDir) -> StageResult:
        self.log(f"[dim]{sd.name}: cached ({sd.final.name})[/dim]")
        return StageResult(sd.name, sd.key, sd.final, sd.info())

    # ---- training stages --------------------------------------------------------------------------

    def v0_vision(self) -> StageResult | None:
        """The pretrained tower shared by every model of this seed (None: towers start random)."""
        cfg = self.cfg
        if not cfg.stages.v0_vision.enabled:
            return None
        subset = stage_config(cfg, "v0_vision")

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            weights, history = train_vision(cfg, self.tokenizer, work, cfg.seed + 3)
            save_file(weights, str(work / "tower.safetensors"))
            final = history[-1] if history else {}
            return {"final_loss": final.get("loss"), "steps": final.get("step")}

        return self._stage("v0_vision", subset, {}, compute)

    def s0_text(self) -> StageResult:
        cfg = self.cfg
        subset = stage_config(cfg, "s0_text")

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            processor = LongVAProcessor(self.tokenizer, cfg.model)
            lm = new_lm(cfg, self.tokenizer, cfg.stages.s0_text.rope_theta)
            lm, history = train_text(lm, processor, cfg, cfg.stages.s0_text, work, cfg.seed)
            return self._save_lm(lm, work, history)

        return self._stage("s0_text", subset, {}, compute)

    def s1_long(self) -> StageResult:
        """The long-context LM; with `stages.s1_long.enabled = false` it is the S0 LM itself."""
        cfg = self.cfg
        s0 = self.s0_text()
        if not cfg.stages.s1_long.enabled:
            return s0
        subset = stage_config(cfg, "s1_long")

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            processor = LongVAProcessor(self.tokenizer, cfg.model)
            lm, history = train_text(load_lm(s0.path / "lm"), processor, cfg, cfg.stages.s1_long, work, cfg.seed + 1)
            return self._save_lm(lm, work, history)

        return self._stage("s1_long", subset, {"s0_text": s0.key}, compute)

    def _save_lm(self, lm, work: Path, history: list[dict]) -> dict:
        lm.save_pretrained(str(work / "lm"))
        self.tokenizer.save_pretrained(str(work / "lm"))
        final = history[-1] if history else {}
        return {"final_loss": final.get("loss"), "steps": final.get("step")}

    def s2_align(self, lm_stage: StageResult, scheme: str | None = None) -> StageResult:
        cfg = self.cfg
        subset = stage_config(cfg, "s2_align") | {"scheme": scheme}
        tower = self.v0_vision()
        upstream = {"lm": lm_stage.key} | ({"v0_vision": tower.key} if tower else {})

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            weights = load_file(str(tower.path / "tower.safetensors")) if tower else None
            model, processor = fresh_vision_model(cfg, self.tokenizer, load_lm(lm_stage.path / "lm"), scheme, weights)
            anchored = anchor_projector(model, self.tokenizer, cfg.stages.s2_align, work / "anchor", cfg.seed + 3)
            history = train_align(model, processor, cfg.stages.s2_align, cfg.text.question, work, cfg.seed + 2)
            model.save_pretrained(work / "model", processor)
            final = history[-1] if history else {}
            return {"final_loss": final.get("loss"), "anchor_final_loss": anchored[-1]["loss"] if anchored else None,
                    "tokens_per_frame": model.tokens_per_frame,
                    "max_visual_tokens": cfg.stages.s2_align.max_grids * model.tokens_per_frame}

        return self._stage("s2_align", subset, upstream, compute)

    # ---- evaluations ---------------------------------------------------------------------------------

    def vniah(self, model_stage: StageResult, rope_theta: float | None = None, label: str = "V-NIAH") -> StageResult:
        cfg = self.cfg
        subset = stage_config(cfg, "eval_vniah") | {"rope_theta": rope_theta}

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            model = LongVAForCausalLM.from_pretrained(model_stage.path / "model")
            processor = LongVAProcessor.from_pretrained(model_stage.path / "model")
            summary = run_vniah(model, processor, cfg.eval.vniah, cfg.text.question, cfg.seed, work, rope_theta, label)
            return {"summary": summary}

        return self._stage("eval_vniah", subset, {"model": model_stage.key}, compute)

    def text_niah(self, lm_stage: StageResult, label: str = "text NIAH") -> StageResult:
        cfg = self.cfg
        subset = stage_config(cfg, "eval_text_niah")

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            processor = LongVAProcessor(self.tokenizer, cfg.model)
            summary = run_text_niah(
                load_lm(lm_stage.path / "lm"), processor, cfg.eval.text_niah, cfg.text, cfg.seed, work, label
            )
            return {"summary": summary}

        return self._stage("eval_text_niah", subset, {"lm": lm_stage.key}, compute)

    def video_qa_proxy(self, model_stage: StageResult) -> StageResult:
        cfg = self.cfg
        subset = stage_config(cfg, "eval_video_qa_proxy")

        def compute(work: Path) -> dict:
            torch.set_num_threads(cfg.threads)
            model = LongVAForCausalLM.from_pretrained(model_stage.path / "model")
            processor = LongVAProcessor.from_pretrained(model_stage.path / "model")
            result = run_video_qa_proxy(model, processor, cfg.eval.video_qa_proxy, cfg.text.question, cfg.seed)
            atomic_write_json(work / "video_qa_proxy.json", result)
            return {"summary": result}

        return self._stage("eval_video_qa_proxy", subset, {"model": model_stage.key}, compute)


def load_cells(stage: StageResult) -> list[dict]:
    """Per-cell records of a finished NIAH stage."""
    records = []
    for path in sorted(stage.path.glob("cells*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records


def load_train_metrics(stage: StageResult) -> list[dict]:
    """Per-step training records (loss, tokens_per_s, peak_rss_mb, ...) of a finished training stage."""
    path = stage.path / "train" / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
