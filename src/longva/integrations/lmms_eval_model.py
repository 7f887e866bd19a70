"""The lmms-eval model class behind `--model longva` (and `longva_native`).

    lmms-eval --model longva \
        --model_args pretrained=DIR,conv_template=qwen_1_5,max_frames_num=32 --tasks videomme

A "simple" lmms-eval model: it receives each request's text and the task's `doc_to_visual`,
reads the visuals itself (`lmms_eval_visuals`) and answers with `PrefixAnswerer`, which
prefills a video once for all the requests about it; requests are answered grouped by their
visuals (a Video-MME video has three questions, a multiple-choice question one request per
option) and returned in lmms-eval's order. Prompts are built as lmms-eval's LongVA wrapper
builds them (`<image>\\n` + context in the chat template), so published commands keep their
meaning. Precision: bf16 on GPU, fp32 on CPU unless `torch_dtype` says otherwise.

`loglikelihood` returns (negative log-likelihood of the continuation, greedy match): lmms-eval
0.7.x picks the option with the *smallest* first value ("we return the actual loss"); the sum
over continuation tokens makes its `acc` the most likely option and `acc_norm` the most likely
per character, as in lm-eval. lmms-eval 0.7.3's evaluator turns every response that is not a
string, a list of strings or a `GenerationResult` into `str(response)`, which breaks every
loglikelihood task with a plain (float, bool) tuple; the pair is therefore handed over inside a
`GenerationResult`, which the evaluator unwraps as it is. Generated answers also come as
`GenerationResult`s, with their prompt and answer token counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from lmms_eval.api.instance import GenerationResult, TokenCounts
from lmms_eval.api.model import lmms

from longva.errors import ConfigError
from longva.eval.prefix_answering import GenerationSettings, PrefixAnswerer, visual_prompt_ids
from longva.integrations.lmms_eval_args import POOL_MODES, LmmsEvalArgs, parse_model_args
from longva.integrations.lmms_eval_visuals import encode_items, flatten, visuals_key

GEN_KWARGS = (
    "until",
    "max_new_tokens",
    "temperature",
    "top_p",
    "do_sample",
    "num_beams",
    "image_aspect_ratio",
)  # the last is ignored, as lmms-eval's LongVA wrapper does
DEFAULT_MAX_NEW_TOKENS = 1024  # lmms-eval's LongVA wrapper's default


class LongVA(lmms):
    is_simple = True

    def __init__(self, **model_args) -> None:
        super().__init__()
        self.args: LmmsEvalArgs = parse_model_args(model_args)
        device = self._placement()
        self.pipe = load_model(self.args, device)
        self.answerer = PrefixAnswerer(self.pipe.model, self.pipe.processor)

    # ---- what lmms-eval reads -------------------------------------------------------------------

    @property
    def model(self):
        return self.pipe.model

    @property
    def tokenizer(self):
        return self.pipe.processor.tokenizer

    @property
    def device(self) -> torch.device:
        return self.pipe.model.device

    @property
    def batch_size(self) -> int:
        return 1  # requests are answered one at a time (grouped by their visuals)

    def _placement(self) -> str:
        """The device; under `accelerate launch` each rank takes its GPU and its share of docs."""
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            self.accelerator = Accelerator()
            self._rank, self._world_size = (
                self.accelerator.process_index,
                self.accelerator.num_processes,
            )
            return f"cuda:{self.accelerator.local_process_index}"
        return self.args.device_map or self.args.device or "auto"

    # ---- request types ---------------------------------------------------------------------------

    def generate_until(self, requests) -> list[GenerationResult]:
        def answer(req) -> GenerationResult:
            context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            features = self._features(doc_to_visual, task, split, doc_id)
            ids = visual_prompt_ids(self.pipe.processor, context, len(features))
            out = self.answerer.generate(ids, features, generation_settings(gen_kwargs))
            text = out.text.strip()
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            return GenerationResult(
                text, TokenCounts(input_tokens=out.prompt_tokens, output_tokens=len(out.token_ids))
            )

        return self._answer_all(requests, "generate_until", answer)

    def loglikelihood(self, requests) -> list[GenerationResult]:
        def score(req) -> GenerationResult:
            context, target, doc_to_visual, doc_id, task, split = req.args
            continuation = (
                target if isinstance(target, str) else target(self._doc(task, split, doc_id))
            )
            features = self._features(doc_to_visual, task, split, doc_id)
            ids = visual_prompt_ids(self.pipe.processor, context, len(features))
            cont = self.tokenizer.encode(continuation, add_special_tokens=False)
            nll, greedy = self.answerer.loglikelihood(ids, cont, features)
            return GenerationResult((nll, greedy))  # see the module doc: not str((nll, greedy))

        return self._answer_all(requests, "loglikelihood", score)

    def generate_until_multi_round(self, requests) -> list:
        """Rounds as lmms-eval's LLaVA-OneVision wrapper: round 0 answers the request; then the
        task's `doc_to_text(doc, previous_output=, round_idx=, previous_round_info=)` returns
        (visuals, context, stop?, outputs, info) for the next round until it says stop; the
        request's result is the outputs it returned last."""

        def rounds(req) -> list[str]:
            context, gen_kwargs, doc_to_visual, doc_to_text, doc_id, task, split = req.args
            settings, doc = generation_settings(gen_kwargs), self._doc(task, split, doc_id)
            visuals, outputs, info, round_idx = doc_to_visual(doc), [], None, 0
            while True:
                if round_idx:
                    visuals, context, stop, outputs, info = doc_to_text(
                        doc,
                        previous_output=list(outputs),
                        round_idx=round_idx,
                        previous_round_info=info,
                    )
                    outputs = list(outputs)
                    if stop:
                        return outputs
                features = self._encode(flatten(visuals))
                outputs.append(self._generate(context, features, settings))
                round_idx += 1

        return self._answer_all(requests, "generate_until_multi_round", rounds)

    # ---- helpers --------------------------------------------------------------------------------

    def _doc(self, task: str, split: str, doc_id: int):
        return self.task_dict[task][split][doc_id]

    def _features(self, doc_to_visual, task, split, doc_id) -> list[torch.Tensor]:
        return self._encode(flatten(doc_to_visual(self._doc(task, split, doc_id))))

    def _encode(self, items: list) -> list[torch.Tensor]:
        if not items:
            return []
        a = self.args
        key = visuals_key(items, a.max_frames_num, a.token_strategy)
        return self.answerer.features_for(
            key,
            lambda: encode_items(
                self.pipe.model, self.pipe.processor, items, a.max_frames_num, a.token_strategy
            ),
        )

    def _generate(
        self, context: str, features: list[torch.Tensor], settings: GenerationSettings
    ) -> str:
        ids = visual_prompt_ids(self.pipe.processor, context, len(features))
        return self.answerer.generate(ids, features, settings).text.strip()

    def _answer_all(self, requests, label: str, answer_one) -> list:
        """answer_one(request) for every request, grouped by visuals, returned in request order."""
        from longva.utils.progress import make_progress

        results: list = [None] * len(requests)
        with make_progress() as bar:
            task = bar.add_task(f"longva {label}", total=len(requests))
            for i in self._grouped_order(requests):
                results[i] = answer_one(requests[i])
                bar.update(task, advance=1)
        return results

    def _grouped_order(self, requests) -> list[int]:
        """Request indices with the requests about the same visual files next to each other."""
        first_seen: dict = {}
        order_key = []
        for i, req in enumerate(requests):
            doc_to_visual, doc_id, task, split = _visual_args(req)
            key = None
            if doc_to_visual is not None:
                key = visuals_key(flatten(doc_to_visual(self._doc(task, split, doc_id))), 0, "")
            order_key.append(i if key is None else first_seen.setdefault(key, i))
        return sorted(range(len(requests)), key=lambda i: (order_key[i], i))


def _visual_args(req):
    """(doc_to_visual, doc_id, task, split) of any of the three request shapes."""
    args = req.args
    if req.request_type == "generate_until_multi_round":
        return args[2], args[4], args[5], args[6]
    return args[2], args[3], args[4], args[5]


def generation_settings(gen_kwargs: dict) -> GenerationSettings:
    """lmms-eval generation kwargs -> our settings (greedy unless do_sample with a temperature)."""
    unknown = sorted(set(gen_kwargs) - set(GEN_KWARGS))
    if unknown:
        raise ConfigError(
            f"generation kwargs {', '.join(unknown)} are not supported by --model longva;"
            f" supported: {', '.join(GEN_KWARGS)}"
        )
    if int(gen_kwargs.get("num_beams") or 1) != 1:
        raise ConfigError(
            f"num_beams={gen_kwargs['num_beams']} is not supported by --model longva;"
            " expected 1 (greedy or sampling)"
        )
    until = gen_kwargs.get("until") or ()
    temperature = float(gen_kwargs.get("temperature") or 0.0)
    sample = bool(gen_kwargs.get("do_sample", False)) and temperature > 0
    return GenerationSettings(
        max_new_tokens=int(gen_kwargs.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
        do_sample=sample,
        temperature=temperature if sample else 1.0,
        top_p=float(gen_kwargs.get("top_p") or 1.0) if sample else 1.0,
        stop_strings=(until,) if isinstance(until, str) else tuple(until),
    )


def load_model(args: LmmsEvalArgs, device: str):
    """The pipeline (model + processor) with the model_args' template, attention and pooling."""
    from longva.inference.pipeline import load_pipeline
    from longva.model.prompt import get_template

    pipe = load_pipeline(resolve_pretrained(args.pretrained), dtype=args.torch_dtype, device=device)
    if args.conv_template is not None:
        pipe.processor.template = get_template(args.conv_template)
    if args.attn_implementation is not None:
        pipe.model.language_model.set_attn_implementation(args.attn_implementation)
    if args.mm_spatial_pool_stride is not None or args.mm_spatial_pool_mode is not None:
        set_pooling(
            pipe.model,
            POOL_MODES[args.mm_spatial_pool_mode or "average"],
            args.mm_spatial_pool_stride or 2,
        )
    return pipe


def set_pooling(model, kind: str, stride: int) -> None:
    """Pool every grid with `kind` (avg/max), kernel = stride (the original's mm_spatial_pool)."""
    from longva.model import PoolingConfig
    from longva.model.encoding import grid_token_shape
    from longva.model.pooling import build_pooling

    model.config.pooling = PoolingConfig(kind=kind, kernel=stride, stride=stride)
    model.pooling = build_pooling(model.config.pooling)
    model.grid_hw = grid_token_shape(model.config)  # tokens per frame follow the new pooling


def resolve_pretrained(pretrained: str) -> Path:
    """A model folder, or a hub repository id fetched (or found in the cache) by huggingface_hub."""
    path = Path(pretrained).expanduser()
    if path.is_dir():
        return path
    if path.exists() or pretrained.count("/") != 1:
        raise ConfigError(
            f"pretrained={pretrained}: not a model folder; expected a LongVA model folder"
            " or a hub id like lmms-lab/LongVA-7B"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(pretrained))
    except Exception as e:  # offline, unknown repository, no permission: all the same to the user
        raise ConfigError(
            f"pretrained={pretrained}: not a local folder and not fetched from the hub"
            f" ({type(e).__name__}); expected a LongVA model folder"
        ) from None
