"""Where the visual tokens sit (before / after the text, interleaved per frame) in the prompt
builder of alignment training and V-NIAH, and a save/load of the layout options."""

import copy
import json

import numpy as np
import pytest
import torch

from longva.data.toy.colours import COLOURS, AlignmentTask, PromptPieces
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.recipes.config import RecipeConfig, VNIAHConfig
from longva.recipes.evaluation import run_vniah
from longva.recipes.stages import build_tokenizer, model_config


@pytest.fixture(scope="module")
def setup():
    cfg = RecipeConfig()
    tok = build_tokenizer(cfg)
    return cfg, tok


def _processor(setup, position, attention="causal"):
    cfg, tok = setup
    mc = model_config(cfg, tok)
    mc.visual_position, mc.attention = position, attention
    return LongVAProcessor(tok, mc)


def test_text_first_puts_the_question_before_the_placeholder(setup):
    cfg, tok = setup
    q = tok.encode(cfg.text.question, add_special_tokens=False)
    before = PromptPieces(_processor(setup, "before_text"), cfg.text.question, ["red"], "before_text")
    after = PromptPieces(_processor(setup, "after_text"), cfg.text.question, ["red"], "after_text")
    assert before.suffix[: len(q)].tolist() == q  # image first: the question follows the video
    assert after.prefix[-len(q):].tolist() == q  # text first: the question precedes the video
    assert after.suffix.tolist() == before.suffix[len(q):].tolist()  # then only the turn's end
    assert len(after.prefix) + len(after.suffix) == len(before.prefix) + len(before.suffix)


def test_interleaved_alignment_rows_have_one_marker_and_placeholder_per_grid(setup):
    cfg, tok = setup
    proc = _processor(setup, "interleaved")
    task = AlignmentTask(proc, cfg.text.question, 2, 4, {"multi_grid": 1.0})
    ids, labels, visuals = task.sample(np.random.default_rng(3))
    marker = tok.encode(proc.config.frame_marker, add_special_tokens=False)
    spots = (ids == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
    assert 2 <= len(spots) == len(visuals) <= 4 and all(v.num_grids == 1 for v in visuals)
    for s in spots:  # every placeholder follows the marker, none of it supervised
        assert ids[s - len(marker) : s].tolist() == marker
        assert (labels[s - len(marker) : s + 1] == IGNORE_INDEX).all()
    batch = task.batch(0, 0, 2)
    assert sum(int((r == IMAGE_TOKEN_INDEX).sum()) for r in batch["input_ids"]) == len(batch["visuals"])
    torch.manual_seed(0)
    model = LongVAForCausalLM(proc.config)
    out = model(input_ids=batch["input_ids"], visuals=batch["visuals"], labels=batch["labels"])
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("position", ["before_text", "after_text", "interleaved"])
@pytest.mark.parametrize("attention", ["causal", "prefix_lm"])
def test_vniah_runs_with_each_visual_position_and_attention(setup, tmp_path, position, attention):
    cfg, tok = setup
    proc = _processor(setup, position, attention)
    torch.manual_seed(0)
    model = LongVAForCausalLM(proc.config)
    vcfg = VNIAHConfig(frames=[2, 4], depths=[0.0, 1.0], num_needles=1)
    run_vniah(model, proc, vcfg, cfg.text.question, 0, tmp_path / "v")
    cells = [json.loads(line) for line in (tmp_path / "v" / "cells.jsonl").read_text().splitlines()]
    assert sorted((c["frames"], c["depth"]) for c in cells) == [(2, 0.0), (2, 1.0), (4, 0.0), (4, 1.0)]
    settings = json.loads((tmp_path / "v" / "run.json").read_text())
    assert settings.get("visual_position", "before_text") == position
    assert settings.get("attention", "causal") == attention


def test_layout_options_survive_save_and_load(setup, tmp_path):
    proc = _processor(setup, "interleaved", "prefix_lm")
    config = copy.deepcopy(proc.config)
    config.frame_marker = "<f>"
    model = LongVAForCausalLM(config)
    model.save_pretrained(tmp_path / "m", LongVAProcessor(proc.tokenizer, config))
    loaded = LongVAForCausalLM.from_pretrained(tmp_path / "m")
    assert (loaded.config.visual_position, loaded.config.attention, loaded.config.frame_marker) == (
        "interleaved", "prefix_lm", "<f>")
    assert COLOURS  # the toy palette the prompts above answer with


def test_interleaved_needs_unires_grids():
    from longva.errors import ConfigError
    from longva.model.config import LongVAConfig
    from longva.utils.dataclass_config import set_path

    config = set_path(LongVAConfig(), "visual_position", "interleaved")
    with pytest.raises(ConfigError, match="'interleaved' puts one frame marker before each grid.*'anyres'"):
        set_path(config, "encoding.scheme", "anyres")


def test_interleaved_vniah_units_are_the_training_prompts_tokens(setup):
    """Frame units with their marker rows (V-NIAH) = the expanded placeholders spliced (training)."""
    from longva.model.visual_layout import with_frame_markers
    from longva.niah.embedding_cache import FrameStore
    from longva.niah.grid import Grid
    from longva.niah.sequence import materialize
    from longva.niah.tasks.builder import build_vniah, single_items
    from longva.niah.tasks.prompts import NeedlePrompt

    cfg, tok = setup
    proc = _processor(setup, "interleaved")
    torch.manual_seed(0)
    model = LongVAForCausalLM(proc.config).eval()
    pieces = PromptPieces(proc, cfg.text.question, ["red"], "interleaved")
    q_ids = tok.encode(cfg.text.question, add_special_tokens=False)  # the question opens the suffix
    post_ids = pieces.suffix.tolist()[len(q_ids):]
    dim = proc.config.lm.hf_config["hidden_size"]
    hay, needle = torch.randn(3, 4, dim), torch.randn(1, 4, dim)  # 3 haystack frames, 4 tokens each
    embed = lambda ids: model.embed_text(ids).detach()  # noqa: E731
    marker = embed(torch.tensor(pieces.marker))
    prompt = NeedlePrompt("0-red", tuple(q_ids), tuple(pieces.answer_ids["red"].tolist()), "red")
    cells, sources = build_vniah(Grid((3,), (1.0,)), single_items([prompt]), pieces.prefix.tolist(), post_ids,
                                 FrameStore.from_tensor(with_frame_markers(hay, marker)),
                                 [with_frame_markers(needle, marker)], embed, tokens_per_unit=4 + len(pieces.marker))
    vniah = materialize(sources, cells[0].runs, torch.float32)  # pre + 3 hay units + needle unit + question + post
    ids, _ = pieces.with_units(pieces.full["red"][0], None, 4)
    with torch.no_grad():
        spliced, _, _ = model.splice([ids], list(torch.cat([hay, needle])))
    assert torch.allclose(vniah, spliced[0, : vniah.shape[0]], atol=1e-6)
