import numpy as np
import pytest
import torch

from longva.data.toy.colours import COLOURS, AlignmentTask, TextRetrievalTask, needle_frame
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.recipes.config import RecipeConfig
from longva.recipes.stages import build_tokenizer, new_lm


@pytest.fixture(scope="module")
def setup():
    cfg = RecipeConfig()
    tok = build_tokenizer(cfg)
    return cfg, tok, LongVAProcessor(tok, cfg.model)


def test_colour_words_are_single_tokens_and_never_filler(setup):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question, random_fraction=0.3)
    assert all(len(v) == 1 for v in task.needles.values())
    needles = {int(v) for v in task.needles.values()}
    assert not needles & (set(task.words.tolist()) | set(task.any_tokens.tolist()))
    filler = task.filler_ids(np.random.default_rng(0), 5000)
    assert not needles & set(filler.tolist())
    share = np.isin(filler.numpy(), task.words.numpy(), invert=True).mean()
    assert 0.15 < share < 0.35  # about random_fraction (0.3) of the filler is arbitrary tokens
    words_only = TextRetrievalTask(proc, cfg.text.question, random_fraction=0.0).filler_ids(
        np.random.default_rng(0), 2000
    )
    assert np.isin(words_only.numpy(), task.words.numpy()).all()


@pytest.mark.parametrize("seq_len", [128, 300])
def test_text_example_has_exact_length_one_needle_and_answer_labels(setup, seq_len):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question, supervise="answer")
    ids, labels = task.example(np.random.default_rng(0), seq_len, depth=0.5, colour="blue")
    assert len(ids) == len(labels) == seq_len
    assert int((ids == task.needles["blue"][0]).sum()) == 1
    supervised = [i for i, lab in zip(ids.tolist(), labels.tolist()) if lab != IGNORE_INDEX]
    assert tok.decode(supervised[:1]) == "blue" and len(supervised) == 2  # answer + <|im_end|>
    # template supervision also trains the turn markers, never the haystack
    t_ids, t_labels = TextRetrievalTask(proc, cfg.text.question, supervise="template").example(
        np.random.default_rng(0), seq_len, depth=0.5, colour="blue"
    )
    template = [i for i, lab in zip(t_ids.tolist(), t_labels.tolist()) if lab != IGNORE_INDEX]
    assert len(template) > 3 and template[-3:-1] == supervised  # ... answer, <|im_end|>, "\n"
    assert task.needles["blue"][0] not in template[:-3]
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
    assert len(kept) == 2 and tok.decode(kept[:1]) in COLOURS  # the colour word, then <|im_end|>
    assert tok.convert_ids_to_tokens(kept[1]) == "<|im_end|>"
    assert int((ids == IMAGE_TOKEN_INDEX).sum()) == 1
    assert 2 <= visual.num_grids <= 4 and visual.grid_rows == 1  # a short row of grids


def test_needle_frame_shows_its_colour(setup):
    frame = np.asarray(needle_frame(np.random.default_rng(0), "red", 48)).reshape(-1, 3)
    assert (np.abs(frame - np.array(COLOURS["red"])).sum(1) == 0).mean() > 0.3


def test_alignment_curriculum_caps_grids_for_the_easy_steps_only(setup):
    cfg, tok, proc = setup
    task = AlignmentTask(
        proc, cfg.text.question, 2, 12, {"multi_grid": 1.0}, supervise="answer", easy_steps=3, easy_max_grids=3
    )
    easy = [v.num_grids for i in range(3) for v in task.batch(0, i, 8)["visuals"]]
    hard = [v.num_grids for i in range(3, 9) for v in task.batch(0, i, 8)["visuals"]]
    assert max(easy) <= 3 and min(easy) >= 2
    assert max(hard) > 3 and max(hard) <= 12  # after the easy steps, up to max_grids


def test_alignment_batches_share_one_grid_count_when_asked(setup):
    cfg, tok, proc = setup
    def counts(same):
        task = AlignmentTask(proc, cfg.text.question, 2, 12, {"multi_grid": 1.0}, same_grids_per_batch=same)
        return [[v.num_grids for v in task.batch(0, i, 8)["visuals"]] for i in range(12)]

    same, mixed = counts(True), counts(False)
    assert all(len(set(batch)) == 1 for batch in same)  # no image of a batch is padded to another
    assert len({batch[0] for batch in same}) > 3 and all(2 <= b[0] <= 12 for b in same)  # drawn per step
    assert any(len(set(batch)) > 1 for batch in mixed)  # the earlier batches: one draw per image


def test_text_length_curriculum_uses_short_haystacks_first(setup):
    from longva.recipes.config import TextStageConfig
    from longva.recipes.stages import text_batches

    cfg, tok, proc = setup
    stage = TextStageConfig(seq_len=160, steps=4, batch_size=2, easy_steps=2, easy_seq_len=96, easy_needle_copies=5)
    task = TextRetrievalTask(proc, cfg.text.question)
    batches = [b["input_ids"] for b, _ in zip(text_batches(task, stage, seed=0), range(4))]
    assert [b.shape[1] for b in batches] == [96, 96, 160, 160]
    needles = torch.stack(list(task.needles.values()))[:, 0]
    copies = [int(torch.isin(row, needles).sum()) for b in batches for row in b]
    assert copies[:4] == [5] * 4 and copies[4:] == [1] * 4  # the colour word repeated only while easy


@pytest.mark.parametrize("k", [2, 7])
def test_alignment_row_image_fast_path_equals_the_processor(setup, k):
    from PIL import Image

    from longva.data.toy.colours import grid_row_image, haystack_pixels

    cfg, tok, proc = setup
    task = AlignmentTask(proc, cfg.text.question, 2, 8, {"multi_grid": 1.0})
    pixels = haystack_pixels(np.random.default_rng(k), k, proc.config.vision.image_size)
    fast = task.row_image(pixels)
    slow = proc.preprocess_image(grid_row_image([Image.fromarray(p) for p in pixels]))
    assert (fast.grid_rows, fast.grid_cols, fast.image_size) == (slow.grid_rows, slow.grid_cols, slow.image_size)
    assert torch.allclose(fast.pixel_values, slow.pixel_values, atol=1e-5)


def test_decoy_examples_put_another_colour_before_the_answer(setup):
    cfg, tok, proc = setup
    needles = {int(v): c for c, v in TextRetrievalTask(proc, cfg.text.question).needles.items()}
    task = TextRetrievalTask(proc, cfg.text.question, decoy_fraction=1.0)
    rng = np.random.default_rng(0)
    for colour in COLOURS:
        ids, _ = task.example(rng, 128, depth=0.7, colour=colour)
        found = [(i, needles[int(t)]) for i, t in enumerate(ids.tolist()) if int(t) in needles]
        assert len(found) == 2 and found[-1][1] == colour and found[0][1] != colour  # decoy first
    # at depth 0 nothing precedes the needle: no decoy; and the default draws none at all
    ids, _ = task.example(rng, 128, depth=0.0, colour="red")
    assert sum(int(t) in needles for t in ids.tolist()) == 1
    colour_words = torch.tensor(list(needles))
    plain = TextRetrievalTask(proc, cfg.text.question).batch(3, 0, 128, 32)["input_ids"]
    assert (torch.isin(plain, colour_words).sum(1) == 1).all()
    half = TextRetrievalTask(proc, cfg.text.question, decoy_fraction=0.5).batch(3, 0, 128, 32)["input_ids"]
    assert 5 <= int((torch.isin(half, colour_words).sum(1) == 2).sum()) <= 27  # about half the rows


def test_rows_of_their_own_length_are_right_padded_and_unsupervised_past_their_end(setup):
    cfg, tok, proc = setup
    task = TextRetrievalTask(proc, cfg.text.question)
    batch = task.batch(5, 3, 256, 24, row_len_spread=0.5)
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape == (24, 256)
    ends = []
    for row_ids, row_labels in zip(ids, labels):
        real = int((row_ids != task.pad_id).sum())
        assert 128 <= real <= 256 and (row_ids[:real] != task.pad_id).all()  # padding only at the end
        assert (row_labels[real:] == IGNORE_INDEX).all() and (row_labels[:real] != IGNORE_INDEX).any()
        colours = [c for c, v in task.needles.items() if int(v) in row_ids[:real].tolist()]
        answer = task.pieces.answer_ids[colours[0]]
        supervised = row_ids[:real][row_labels[:real] != IGNORE_INDEX].tolist()
        assert len(colours) == 1 and answer.tolist()[0] in supervised  # one needle, its answer trained
        ends.append(real)
    assert len(set(ends)) > 8  # many lengths in one step
    same = task.batch(5, 3, 256, 24)  # no spread: one length, no padding, as before
    assert (same["input_ids"] != task.pad_id).all()
    assert torch.equal(task.batch(5, 3, 256, 24, row_len_spread=0.5)["input_ids"], ids)  # (seed, step) decide


def test_a_padded_row_trains_as_its_example_alone(setup):
    """Right padding under causal attention: the row's logits (and so its loss) are the example's."""
    cfg, tok, proc = setup
    lm = new_lm(cfg, tok, 1e6).eval()
    task = TextRetrievalTask(proc, cfg.text.question)
    ids = task.batch(2, 0, 160, 4, row_len_spread=0.5)["input_ids"]
    with torch.no_grad():
        padded = lm(input_ids=ids).logits
        for row in range(len(ids)):
            n = int((ids[row] != task.pad_id).sum())
            alone = lm(input_ids=ids[row : row + 1, :n]).logits[0]
            assert torch.allclose(padded[row, :n], alone, atol=1e-5)
    assert int((ids == task.pad_id).sum()) > 0  # some row is padded
