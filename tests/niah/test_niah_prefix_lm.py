"""Prefix-LM models in the KV-reusing evaluator: every cell's answer logits equal one full forward
with the prefix-LM mask, whatever the chunk size and cell order (KV reuse stays exact)."""

import random

import pytest
import torch
from niah_helpers import tiny_lm, tiny_vniah

from longva.model.prefix_lm import prefix_lm_mask
from longva.niah.evaluator import evaluate, order_cells
from longva.niah.grid import Grid
from longva.niah.sequence import materialize, total_len
from longva.niah.visual_attention import prefill_spans, reusable_prefix, video_rows, visual_region

GRID = Grid((4, 10), (0.0, 0.5, 1.0))


@pytest.fixture(scope="module")
def setup():
    lm = tiny_lm()
    cells, sources = tiny_vniah(lm, GRID, n_needles=2, max_frames=10)
    return lm, cells, sources


def _full_forward_logits(lm, sources, cell, visual_fn):
    full = cell.full_runs()
    x = materialize(sources, full, torch.float32)[None]  # (1, L, D)
    mask = prefix_lm_mask(visual_fn(full)[None], None, torch.float32)
    with torch.inference_mode():
        hidden = lm.get_decoder()(inputs_embeds=x, attention_mask=mask).last_hidden_state
        p, a = cell.prompt_len, len(cell.answer_ids)
        return lm.get_output_embeddings()(hidden[0, p - 1 : p + a - 1]).float()


@pytest.mark.parametrize("chunk_size, shuffle", [(7, False), (10_000, True)])
def test_prefix_lm_cells_match_one_masked_forward(setup, chunk_size, shuffle):
    lm, cells, sources = setup
    visual_fn = video_rows(sources)
    order = order_cells(cells)
    if shuffle:
        random.Random(0).shuffle(order)
    results = evaluate(lm, sources, order, chunk_size=chunk_size, keep_logits=True, visual_fn=visual_fn)
    for r in results:
        assert torch.allclose(r.logits, _full_forward_logits(lm, sources, r.cell, visual_fn), atol=1e-4), r.cell.key
    causal = {r.cell.key: r.logits for r in evaluate(lm, sources, order, chunk_size=chunk_size, keep_logits=True)}
    assert any(not torch.allclose(r.logits, causal[r.cell.key], atol=1e-3) for r in results)  # the mask matters


def test_visual_rows_come_from_video_sources_and_skip_markers(setup):
    _, cells, sources = setup
    runs = cells[0].full_runs()
    flags = video_rows(sources)(runs)
    assert flags.shape == (total_len(runs),) and flags.any() and not flags.all()
    assert int(flags[0]) == 0  # the prompt's prefix is text
    unit = video_rows(sources, unit=4, marker=1)(runs)  # 1 marker row per 4-row unit
    assert unit.sum() < flags.sum() and not (unit & ~flags).any()


def test_reuse_and_prefill_rules():
    assert reusable_prefix(30, (10, 20), (10, 20)) == 30  # same video, fully cached: reuse all
    assert reusable_prefix(30, (10, 20), (10, 25)) == 10  # another video: from its first row
    assert reusable_prefix(15, (10, 20), (10, 20)) == 10  # cut inside the region: redo it whole
    assert reusable_prefix(8, (10, 20), None) == 8
    assert visual_region(torch.tensor([0, 1, 1, 0, 1, 0], dtype=torch.bool)) == (1, 5)
    assert prefill_spans(0, 30, (10, 20), 6) == [(0, 6, False), (6, 10, False), (10, 20, True),
                                                 (20, 26, False), (26, 30, False)]
    with pytest.raises(ValueError, match="whole visual region"):
        prefill_spans(0, 15, (10, 20), 6)


@pytest.mark.parametrize("option", [("visual_position", "after_text"), ("attention", "prefix_lm")])
def test_longva_niah_adapter_refuses_layouts_it_does_not_lay_out(option):
    from longva.errors import ConfigError
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config
    from longva.niah.adapters.longva import from_model

    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    setattr(cfg, *option)
    with pytest.raises(ConfigError, match=f"{option[0]}={option[1]!r}"):
        from_model(LongVAForCausalLM(cfg), LongVAProcessor(tok, cfg))
