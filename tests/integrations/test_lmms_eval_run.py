"""`lmms-eval --model longva` on local tasks: video, image, multi-image, multiple choice
(loglikelihood) and multi-round, in one real CLI run, offline, on CPU."""

from __future__ import annotations

import textwrap

import pytest
import torch
from lmms_helpers import MANIFEST_WARNING, run_lmms_eval, write_jsonl

from longva.eval.prefix_answering import GenerationSettings, PrefixAnswerer, visual_prompt_ids
from longva.integrations.lmms_eval_visuals import encode_items

FRAMES = 8
MAX_NEW = 6
CHOICES = ["A", "B", "C", "D"]

UTILS = """
def one_visual(doc):
    return [doc["visual"]]

def two_images(doc):
    return [doc["first"], doc["second"]]

def text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]

def choices(doc):
    return ["A", "B", "C", "D"]

def answered(doc, results):
    return {"chars": float(len(results[0]))}

def two_rounds(doc, lmms_eval_specific_kwargs=None, previous_output=None, round_idx=None,
               previous_round_info=None):
    if round_idx is None:
        return doc["question"]
    if round_idx == 1:
        return [doc["visual"]], "And what comes next?", False, previous_output, {"round": 1}
    return None, None, True, previous_output, None

def rounds(doc, results):
    return {"rounds": float(len(results[0]))}
"""


def _generate_task(
    name: str,
    data: str,
    visual: str,
    output_type: str = "generate_until",
    to_text: str = "text",
    process: str = "answered",
    metric: str = "chars",
) -> str:
    return textwrap.dedent(f"""\
        task: {name}
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {data}
        test_split: test
        output_type: {output_type}
        doc_to_visual: !function toy_tasks.{visual}
        doc_to_text: !function toy_tasks.{to_text}
        doc_to_target: "question"
        generation_kwargs:
          max_new_tokens: {MAX_NEW}
          temperature: 0
          do_sample: false
        process_results: !function toy_tasks.{process}
        metric_list:
          - metric: {metric}
            aggregation: mean
            higher_is_better: true
        """)


def _mc_task(data: str) -> str:
    return textwrap.dedent(f"""\
        task: toy_mc
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {data}
        test_split: test
        output_type: multiple_choice
        doc_to_visual: !function toy_tasks.one_visual
        doc_to_text: !function toy_tasks.text
        doc_to_choice: !function toy_tasks.choices
        doc_to_target: "gold"
        metric_list:
          - metric: acc
            aggregation: mean
            higher_is_better: true
        """)


def _features(pipe, items):
    return encode_items(pipe.model, pipe.processor, items, FRAMES, "single")


def _expected_answer(pipe, items, context):
    features = _features(pipe, items)
    ids = visual_prompt_ids(pipe.processor, context, len(features))
    settings = GenerationSettings(max_new_tokens=MAX_NEW, stop_strings=("\n\n",))
    return PrefixAnswerer(pipe.model, pipe.processor).generate(ids, features, settings).text.strip()


def _option_nll(pipe, video, question):
    """-log p(" X" | prompt) per option by a teacher-forced forward (independent of the plugin)."""
    features = _features(pipe, [video])
    ctx = visual_prompt_ids(pipe.processor, question, 1)[0]
    out = []
    for choice in CHOICES:
        cont = torch.tensor(pipe.processor.tokenizer.encode(" " + choice, add_special_tokens=False))
        with torch.inference_mode():
            logits = pipe.model(
                input_ids=torch.cat([ctx, cont])[None], visual_features=features
            ).logits[0]
        rows = torch.log_softmax(logits[-len(cont) - 1 : -1].float(), -1)
        out.append(-float(rows.gather(1, cont[:, None]).sum()))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory, model_dir, media, pipe):
    work = tmp_path_factory.mktemp("lmms_run")
    tasks = work / "tasks"
    tasks.mkdir()
    (tasks / "toy_tasks.py").write_text(UTILS)
    clip, long, red, blue = (
        str(media / n) for n in ("clip.mp4", "long.mp4", "red.png", "blue.png")
    )
    docs = {
        "toy_video": [
            {"visual": clip, "question": "What happens in the video?"},
            {"visual": long, "question": "Describe the video in detail."},
            {"visual": clip, "question": "Which colour is the square?"},
        ],
        "toy_image": [
            {"visual": red, "question": "What is in the image?"},
            {"visual": blue, "question": "What colour is it?"},
        ],
        "toy_multi": [{"first": red, "second": blue, "question": "Compare the two images."}],
        "toy_rounds": [{"visual": clip, "question": "What happens first?"}],
    }
    questions = ["Which option? A B C D", "Find the frame with the needle. A B C D"]
    nll = [_option_nll(pipe, clip, q) for q in questions]
    best = [min(range(4), key=lambda i, row=row: row[i]) for row in nll]
    # doc 0's gold is the model's favourite option, doc 1's is another one: acc must be 0.5.
    docs["toy_mc"] = [
        {"visual": clip, "question": questions[0], "gold": best[0]},
        {"visual": clip, "question": questions[1], "gold": (best[1] + 1) % 4},
    ]
    for name, rows in docs.items():
        write_jsonl(tasks / f"{name}.jsonl", rows)
    for name, visual in [
        ("toy_video", "one_visual"),
        ("toy_image", "one_visual"),
        ("toy_multi", "two_images"),
    ]:
        (tasks / f"{name}.yaml").write_text(_generate_task(name, tasks / f"{name}.jsonl", visual))
    (tasks / "toy_rounds.yaml").write_text(
        _generate_task(
            "toy_rounds",
            tasks / "toy_rounds.jsonl",
            "one_visual",
            "generate_until_multi_round",
            "two_rounds",
            "rounds",
            "rounds",
        )
    )
    (tasks / "toy_mc.yaml").write_text(_mc_task(tasks / "toy_mc.jsonl"))
    result = run_lmms_eval(
        work,
        "longva",
        f"pretrained={model_dir},conv_template=qwen_1_5,max_frames_num={FRAMES}",
        "toy_video,toy_image,toy_multi,toy_rounds,toy_mc",
        tasks,
    )
    return result, docs, nll


def test_results_json_has_every_sample(run):
    result, docs, _ = run
    assert result.results is not None, result.output[-3000:]
    assert MANIFEST_WARNING not in result.output
    for task, rows in docs.items():
        assert result.results["n-samples"][task]["effective"] == len(rows)
        assert len(result.samples[task]) == len(rows)
    assert "LongVA" in result.results["config"]["model_backend"] or "longva" in str(
        result.results["config"]
    )


def test_generated_answers_are_this_package_s(run, pipe):
    """The answers in lmms-eval's samples are what this package answers on the same inputs:
    video (8 frames), image paths, two images (two placeholders)."""
    result, docs, _ = run
    for task in ("toy_video", "toy_image", "toy_multi"):
        for sample in result.samples[task]:
            doc = docs[task][sample["doc_id"]]
            items = [doc["first"], doc["second"]] if task == "toy_multi" else [doc["visual"]]
            assert sample["filtered_resps"] == _expected_answer(pipe, items, doc["question"]), task
    for sample in result.samples["toy_video"]:  # max_frames_num=8 reached the model: 8 frames
        doc = docs["toy_video"][sample["doc_id"]]
        text_ids = visual_prompt_ids(pipe.processor, doc["question"], 1).shape[1] - 1
        assert (
            sample["token_counts"][0]["input_tokens"]
            == text_ids + FRAMES * pipe.model.tokens_per_frame
        )
    answers = [s["filtered_resps"] for s in result.samples["toy_video"]]
    assert len(set(answers)) > 1  # different videos/questions, different answers
    chars = result.results["results"]["toy_video"]["chars,none"]
    assert chars == pytest.approx(sum(len(a) for a in answers) / len(answers))


def test_multiple_choice_picks_the_most_likely_option(run):
    """lmms-eval takes the argmin of the first value: ours is the negative log-likelihood."""
    result, docs, nll = run
    assert result.results["results"]["toy_mc"]["acc,none"] == pytest.approx(0.5)
    for sample in result.samples["toy_mc"]:
        lls = [float(pair[0]) for pair in sample["filtered_resps"]]  # logged as text
        assert lls == pytest.approx(nll[sample["doc_id"]], rel=1e-4, abs=1e-4)
        assert sample["acc"] == (1.0 if sample["doc_id"] == 0 else 0.0)


def test_multi_round_runs_every_round(run, pipe, media):
    result, docs, _ = run
    assert result.results["results"]["toy_rounds"]["rounds,none"] == 2.0
    (sample,) = result.samples["toy_rounds"]
    doc = docs["toy_rounds"][0]
    outputs = sample["filtered_resps"]
    outputs = outputs[0] if isinstance(outputs[0], list) else outputs
    assert outputs == [
        _expected_answer(pipe, [doc["visual"]], doc["question"]),
        _expected_answer(pipe, [doc["visual"]], "And what comes next?"),
    ]
