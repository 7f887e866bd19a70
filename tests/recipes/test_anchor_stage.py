"""S2a: the projector alone is pulled to the colour words' embeddings; nothing else moves."""

import torch

from longva.data.toy.colours import COLOURS, AlignmentTask, anchor_frames, filler_words, needle_word_ids
from longva.model.processor import LongVAProcessor
from longva.recipes.config import AlignStageConfig, RecipeConfig
from longva.recipes.stages import anchor_batches, anchor_projector, build_tokenizer, fresh_vision_model, new_lm
from longva.train.align_parts import align_loss_fn
from longva.train.anchor_stage import anchor_loss_fn, anchor_targets, with_anchor_loss


def _model():
    cfg = RecipeConfig()
    tok = build_tokenizer(cfg)
    model, _ = fresh_vision_model(cfg, tok, new_lm(cfg, tok, 1e3))
    return cfg, tok, model


def test_needle_word_ids_are_the_text_needles_tokens():
    cfg = RecipeConfig()
    tok = build_tokenizer(cfg)
    ids = needle_word_ids(tok)
    assert len(set(ids.values())) == len(COLOURS)  # one distinct word per colour
    assert all(tok.decode([i]).strip() == c for c, i in ids.items())
    pixels, names = anchor_frames(1, 2, 6, 32)
    again, names_again = anchor_frames(1, 2, 6, 32)
    assert pixels.shape == (12, 32, 32, 3) and names == names_again and (pixels == again).all()
    assert all(n in COLOURS for n in names[:6]) and names[6:] == [None] * 6  # needles, then haystack


def test_anchor_targets_are_the_word_or_the_filler_mean():
    cfg, tok, model = _model()
    batch = anchor_batches(model, tok, AlignStageConfig(batch_size=4), seed=0).batch(0)
    targets = anchor_targets(model, batch["target_ids"], batch["target_mask"])  # (8, D)
    embeddings = model.language_model.get_input_embeddings().weight.detach()
    words = needle_word_ids(tok)
    assert torch.allclose(targets[0], embeddings[batch["target_ids"][0, 0]])
    assert int(batch["target_mask"][0].sum()) == 1 and int(batch["target_ids"][0, 0]) in words.values()
    assert torch.allclose(targets[-1], embeddings[filler_words(tok)].mean(0), atol=1e-6)


def test_anchoring_pulls_needle_tokens_to_their_words_and_trains_only_the_projector(tmp_path):
    torch.manual_seed(0)
    cfg, tok, model = _model()
    stage = AlignStageConfig(batch_size=16, anchor_steps=40, anchor_lr=3e-3, checkpoint_every=100)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("projector.")}
    batch = anchor_batches(model, tok, stage, seed=99).batch(0)
    target = anchor_targets(model, batch["target_ids"], batch["target_mask"])[:, None, :]  # (B, 1, D)

    def error() -> float:
        with torch.no_grad():
            return float((model.encode_frames(batch["pixel_values"]) - target).pow(2).mean() / target.pow(2).mean())

    before = error()  # zero-initialised projector output: exactly 1.0
    history = anchor_projector(model, tok, stage, tmp_path / "anchor", seed=5)
    assert len(history) == 40 and history[-1]["loss"] < history[0]["loss"]
    assert error() < 0.8 * before  # held-out frames (another seed) moved towards their words
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())  # tower and LM untouched


def test_zero_anchor_steps_is_a_no_op(tmp_path):
    cfg, tok, model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert anchor_projector(model, tok, AlignStageConfig(anchor_steps=0), tmp_path, seed=0) == []
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not (tmp_path / "train").exists()


def test_s2_with_the_anchoring_term_adds_it_per_answer_token():
    cfg, tok, model = _model()
    proc = LongVAProcessor(tok, model.config)
    stage = AlignStageConfig(batch_size=4, max_grids=3)
    task = AlignmentTask(proc, cfg.text.question, stage.min_grids, stage.max_grids, stage.data_mix, "answer")
    b = task.batch(0, 0, 4)
    batch = {"ids": b["input_ids"], "label_rows": b["labels"], "visuals": b["visuals"]}
    batch |= anchor_batches(model, tok, stage, seed=1).batch(0)
    with torch.no_grad():
        plain, n = align_loss_fn(model, batch)
        anchor, m = anchor_loss_fn(model, batch)
        combined, n2 = with_anchor_loss(align_loss_fn, 0.5)(model, batch)
    assert int(n2) == int(n) > 0
    assert torch.allclose(combined, plain + 0.5 * (anchor / m) * n)
    assert float(anchor) > 0  # the zero-initialised projector is far from every word
