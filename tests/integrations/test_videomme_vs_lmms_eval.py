"""`longva eval videomme` and lmms-eval (its own Video-MME prompt and scorer functions, on a
local copy of the synthetic dataset) give identical answers on the same questions and frames."""

from __future__ import annotations

import json
import textwrap

import pytest
from lmms_helpers import MANIFEST_WARNING, run_lmms_eval

from longva.cli import main
from longva.eval.videomme_data import load_questions
from longva.eval.videomme_scoring import extract_answer, videomme_prompt
from longva.eval.videomme_synthetic import PARQUET_NAME, write_synthetic_videomme
from longva.utils.io import read_jsonl

FRAMES = 8

UTILS = """
import os
from lmms_eval.tasks.videomme.utils import (  # lmms-eval's own Video-MME prompt and scorer
    videomme_aggregate_results, videomme_doc_to_text, videomme_process_results)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "videos")

def doc_to_visual(doc):
    return [os.path.join(DATA, doc["videoID"] + ".mp4")]
"""


def _task_yaml(parquet) -> str:
    """lmms-eval's videomme.yaml with the dataset read from the local parquet."""
    return textwrap.dedent(f"""\
        task: videomme_local
        dataset_path: parquet
        dataset_kwargs:
          data_files:
            test: {parquet}
        test_split: test
        output_type: generate_until
        doc_to_visual: !function vm_utils.doc_to_visual
        doc_to_text: !function vm_utils.videomme_doc_to_text
        doc_to_target: "answer"
        generation_kwargs:
          max_new_tokens: 16
          temperature: 0
          top_p: 1.0
          num_beams: 1
          do_sample: false
        process_results: !function vm_utils.videomme_process_results
        metric_list:
          - metric: videomme_perception_score
            aggregation: !function vm_utils.videomme_aggregate_results
            higher_is_better: true
        lmms_eval_specific_kwargs:
          default:
            pre_prompt: ""
            post_prompt: "\\nAnswer with the option's letter from the given choices directly."
        """)


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, model_dir):
    work = tmp_path_factory.mktemp("videomme_compare")
    data = work / "videomme"
    write_synthetic_videomme(data, videos_per_duration=2, seed=3)
    tasks = work / "tasks"
    tasks.mkdir()
    (tasks / "videos").symlink_to(data / "data")
    (tasks / "vm_utils.py").write_text(UTILS)
    (tasks / "videomme_local.yaml").write_text(_task_yaml(data / PARQUET_NAME))
    lmms = run_lmms_eval(
        work,
        "longva",
        f"pretrained={model_dir},conv_template=qwen_1_5,max_frames_num={FRAMES}",
        "videomme_local",
        tasks,
    )
    out = work / "ours"
    code = main(
        [
            "eval",
            "videomme",
            "--model",
            str(model_dir),
            "--data",
            str(data),
            "--frames",
            f"4,{FRAMES},16",
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    ours = {r["question_id"]: r for r in read_jsonl(out / "records.jsonl") if r["frames"] == FRAMES}
    return lmms, ours, load_questions(data), out


def test_same_prompt_as_lmms_eval(both_runs):
    from lmms_eval.tasks.videomme.utils import videomme_doc_to_text

    kwargs = {
        "pre_prompt": "",
        "post_prompt": "\nAnswer with the option's letter from the given choices directly.",
    }
    for q in both_runs[2]:  # the dataset's questions
        assert videomme_prompt(q.question, q.options) == videomme_doc_to_text(q.doc(), kwargs)


def test_identical_answers_on_the_same_questions_and_frames(both_runs):
    lmms, ours, questions, _ = both_runs
    assert lmms.results is not None, lmms.output[-3000:]
    assert MANIFEST_WARNING not in lmms.output
    samples = lmms.samples["videomme_local"]
    assert len(samples) == len(questions) == len(ours) == 18
    for sample in samples:
        q = questions[sample["doc_id"]]  # lmms-eval keeps the parquet's row order
        score = sample["videomme_perception_score"]
        assert score["question_id"] == q.question_id
        mine = ours[q.question_id]
        assert sample["filtered_resps"] == mine["response"]
        assert extract_answer(sample["filtered_resps"]) == mine["extracted"]
    assert len({r["response"] for r in ours.values()}) > 1  # not one answer repeated
    # lmms-eval's score (its own extraction, unanswered = wrong) from the same answers:
    score = lmms.results["results"]["videomme_local"]["videomme_perception_score,none"]
    lmms_correct = sum(s["videomme_perception_score"]["score"] for s in samples)
    assert score == pytest.approx(100 * lmms_correct / len(samples))


def test_our_report_covers_the_sweep(both_runs):
    _, ours, _, out = both_runs
    results = json.loads((out / "results.json").read_text())
    assert results["frames"] == [4, FRAMES, 16]
    block = results["by_frames"][str(FRAMES)]
    assert block["overall"]["questions"] == 18 and list(block["by_duration"]) == [
        "short",
        "medium",
        "long",
    ]
    assert block["overall"]["correct"] == sum(r["correct"] for r in ours.values())
    assert (out / "accuracy_vs_frames.png").is_file() and (out / "results.md").is_file()
