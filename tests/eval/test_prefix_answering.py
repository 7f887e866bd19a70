"""PrefixAnswerer: reusing a video's prefilled prefix changes nothing but the work done."""

import numpy as np
import pytest
import torch

from longva.eval.prefix_answering import (
    GenerationSettings,
    PrefixAnswerer,
    cut_at_stop,
    prefix_length,
    visual_prompt_ids,
)
from longva.model.prompt import IMAGE_TOKEN_INDEX

QUESTIONS = ["What colour is it?", "Describe the video in detail.", "Which option? A B C D"]
SETTINGS = GenerationSettings(max_new_tokens=12)


@pytest.fixture(scope="module")
def video_features(pipe):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 40, 40, 3), dtype=np.uint8)
    visual = pipe.processor.preprocess_video(frames)
    with torch.inference_mode():
        return [pipe.model.encode_visual(visual)]  # (6 * t, D)


def _answers(pipe, features, questions, answerer=None):
    answerer = answerer or PrefixAnswerer(pipe.model, pipe.processor)
    out = {}
    for q in questions:
        ids = visual_prompt_ids(pipe.processor, q, placeholders=1)
        out[q] = answerer.generate(ids, features, SETTINGS)
    return out


def test_prompt_places_placeholders_like_lmms_eval(pipe):
    ids = visual_prompt_ids(pipe.processor, "Q?", placeholders=2)[0].tolist()
    text = pipe.processor.template.render([("user", "<image> <image>\nQ?")])
    expected = pipe.processor.encode_prompt([("user", "<image> <image>\nQ?")])[0].tolist()
    assert ids == expected and ids.count(IMAGE_TOKEN_INDEX) == 2 and "<image> <image>\nQ?" in text
    assert prefix_length(ids) == max(i for i, t in enumerate(ids) if t == IMAGE_TOKEN_INDEX) + 1
    as_given = visual_prompt_ids(pipe.processor, "<image>\nQ?", placeholders=1)[0].tolist()
    assert as_given.count(IMAGE_TOKEN_INDEX) == 1


def test_reused_prefix_gives_the_answers_of_a_fresh_one_in_any_order(pipe, video_features):
    shared = PrefixAnswerer(pipe.model, pipe.processor)
    prefills = []
    original = shared._prefill_prefix
    shared._prefill_prefix = lambda *a: prefills.append(1) or original(*a)
    forward = _answers(pipe, video_features, QUESTIONS, shared)
    assert len(prefills) == 1  # the video was prefilled once for the three questions
    backward = _answers(
        pipe, video_features, QUESTIONS[::-1], PrefixAnswerer(pipe.model, pipe.processor)
    )
    for q in QUESTIONS:
        fresh = _answers(pipe, video_features, [q])[q]  # its own answerer: prefix prefilled for it
        assert forward[q].token_ids == fresh.token_ids == backward[q].token_ids
        assert forward[q].text == fresh.text
    visual = int(video_features[0].shape[0])
    assert all(forward[q].reused_tokens >= visual for q in QUESTIONS)  # only the text was prefilled
    assert len({forward[q].text for q in QUESTIONS}) > 1  # the model does answer differently


def test_generation_matches_the_chat_pipeline(pipe, video_features):
    """Same greedy tokens as `longva.inference.generate` with a fresh cache (chunking aside,
    the computation is the same model call)."""
    from longva.inference import generate

    q = QUESTIONS[0]
    ids = visual_prompt_ids(pipe.processor, q, placeholders=1)
    ours = _answers(pipe, video_features, [q])[q]
    plain = generate(
        pipe.model, pipe.processor, ids, visual_features=video_features, max_new_tokens=12
    )
    assert ours.token_ids == plain.token_ids


def test_loglikelihood_equals_a_teacher_forced_forward(pipe, video_features):
    answerer = PrefixAnswerer(pipe.model, pipe.processor)
    tok = pipe.processor.tokenizer
    ctx = visual_prompt_ids(pipe.processor, QUESTIONS[2], placeholders=1)
    for option in [" A", " B", " red square", " C"]:
        cont = tok.encode(option, add_special_tokens=False)
        nll, greedy = answerer.loglikelihood(ctx, cont, video_features)
        full = torch.cat([ctx[0], torch.tensor(cont)])[None]
        with torch.inference_mode():
            logits = (
                pipe.model(input_ids=full, visual_features=video_features).logits[0].float()
            )  # (L', V)
        rows = logits[-len(cont) - 1 : -1]  # the positions predicting the continuation
        expected = -torch.log_softmax(rows, -1).gather(1, torch.tensor(cont)[:, None]).sum()
        assert nll == pytest.approx(float(expected), rel=1e-4, abs=1e-4)
        assert greedy == bool((rows.argmax(-1) == torch.tensor(cont)).all())
    # The greedy continuation is recognised as greedy.
    first = _answers(pipe, video_features, [QUESTIONS[2]], answerer)[QUESTIONS[2]].token_ids[:3]
    assert answerer.loglikelihood(ctx, first, video_features)[1] is True


def test_stop_strings_cut_the_answer():
    assert cut_at_stop("A\n\nB", ["\n\n"]) == "A"
    assert cut_at_stop("xyz", ["q", ""]) == "xyz"
    assert cut_at_stop("a.b,c", [",", "."]) == "a"
