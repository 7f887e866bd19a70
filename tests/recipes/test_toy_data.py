import numpy as np
import pytest
import torch

from longva.model.processor import LongVAProcessor
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.recipes.config import RecipeConfig
from longva.recipes.stages import build_tokenizer
from longva.recipes.toy_data import COLOURS, AlignmentTask, TextRetrievalTask, needle_frame


@pytest.fixture(scope="module")
def setup():
    cfg = RecipeConfig()
    tok = build_tokenizer(cfg)
    return cfg, tok, LongVAProcessor(tok, cfg.model)


def test_colour_words_are_single_tokens_and_never_filler(setup):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question)
    assert all(len(v) == 1 for v in task.needles.values())
    needles = {int(v) for v in task.needles.values()}
    assert not needles & set(task.filler_vocab.tolist())


@pytest.mark.parametrize("seq_len", [128, 300])
def test_text_example_has_exact_length_one_needle_and_answer_labels(setup, seq_len):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question)
    ids, labels = task.example(np.random.default_rng(0), seq_len, depth=0.5, colour="blue")
    assert len(ids) == len(labels) == seq_len
    assert int((ids == task.needles["blue"][0]).sum()) == 1
    supervised = tok.decode([i for i, lab in zip(ids.tolist(), labels.tolist()) if lab != IGNORE_INDEX])
    assert "blue" in supervised and "<|im_end|>" in supervised
    # the haystack sits exactly where an <image> placeholder would be
    prefix = task.pieces.prefix
    assert torch.equal(ids[: len(prefix)], prefix)


def test_batches_are_deterministic_by_seed_and_index(setup):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question)
    a = task.batch(3, 7, 96, 4)
    b = task.batch(3, 7, 96, 4)
    c = task.batch(3, 8, 96, 4)
    assert torch.equal(a["input_ids"], b["input_ids"]) and not torch.equal(a["input_ids"], c["input_ids"])


def test_answer_only_labels_keep_just_the_answer(setup):
    cfg, tok, proc = setup
    task = AlignmentTask(proc, cfg.text.question, 2, 4, {"multi_grid": 1.0}, supervise="answer")
    ids, labels, visual = task.sample(np.random.default_rng(1))
    kept = [i for i in labels.tolist() if i != IGNORE_INDEX]
    assert tok.decode(kept) in COLOURS  # the colour word alone (1-2 tokens)
    assert int((ids == IMAGE_TOKEN_INDEX).sum()) == 1
    assert 2 <= visual.num_grids <= 4 and visual.grid_rows == 1  # a short row of grids


def test_needle_frame_shows_its_colour(setup):
    frame = np.asarray(needle_frame(np.random.default_rng(0), "red", 48)).reshape(-1, 3)
    assert (np.abs(frame - np.array(COLOURS["red"])).sum(1) == 0).mean() > 0.3
