"""The KV-reusing, chunked, answer-span-only evaluator against the original's full forward."""

import random

import pytest
import torch
from niah_helpers import TPF, tiny_lm, tiny_vniah, with_greedy_answers

from longva.niah.evaluator import GenerateConfig, PrefixCache, evaluate, order_cells
from longva.niah.grid import Grid
from longva.niah.reference import reference_evaluate
from longva.niah.sequence import materialize, total_len

GRID = Grid((8, 20, 40), (0.0, 0.25, 0.5, 1.0))


@pytest.fixture(scope="module")
def setup():
    lm = tiny_lm()
    cells, sources = tiny_vniah(lm, GRID, n_needles=3, max_frames=40)
    cells = with_greedy_answers(lm, sources, cells, every=2)
    naive = reference_evaluate(lm, sources, cells, keep_logits=True)
    return lm, cells, sources, {r.cell.key: r for r in naive}


def test_exact_matches_the_naive_full_forward_cell_by_cell(setup):
    lm, cells, sources, naive = setup
    results = evaluate(lm, sources, order_cells(cells), chunk_size=64, keep_logits=True)
    assert len(results) == len(cells)
    mix = [r.correct for r in results]
    assert any(mix) and not all(mix), "the test needs both right and wrong cells"
    for r in results:
        ref = naive[r.cell.key]
        assert r.correct == ref.correct and r.pred_ids == ref.pred_ids, r.cell.key
        assert torch.allclose(r.logits, ref.logits, atol=1e-4), r.cell.key


@pytest.mark.parametrize("chunk_size", [9, 10_000])
def test_chunk_size_and_cell_order_change_no_score(setup, chunk_size):
    lm, cells, sources, naive = setup
    shuffled = list(cells)
    random.Random(chunk_size).shuffle(shuffled)  # arbitrary order: reuse is partial but exact
    for r in evaluate(lm, sources, shuffled, chunk_size=chunk_size, keep_logits=True):
        ref = naive[r.cell.key]
        assert r.pred_ids == ref.pred_ids
        assert torch.allclose(r.logits, ref.logits, atol=1e-4)


def test_trie_order_computes_each_shared_prefix_once(setup):
    lm, cells, sources, _ = setup
    ordered = evaluate(lm, sources, order_cells(cells), chunk_size=256)
    computed = sum(r.new_tokens for r in ordered)
    naive_tokens = sum(total_len(c.full_runs()) for c in cells)
    assert computed < naive_tokens / 2
    # the depth-1 cells of all needles share the whole haystack: the longest one is computed once
    longest = max(total_len(c.runs) for c in cells)
    assert computed < naive_tokens - longest


def test_logits_only_for_the_answer_span(setup, monkeypatch):
    lm, cells, sources, _ = setup
    seen = []
    head = lm.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, i, o: seen.append(o.shape[-2]))
    try:
        results = evaluate(lm, sources, order_cells(cells)[:6], chunk_size=32)
    finally:
        handle.remove()
    assert seen == [len(r.cell.answer_ids) for r in results]


def test_exact_feeds_each_cell_in_one_decoder_call(setup):
    """The last prefill chunk and the answer span share one LM call: one decoder pass a cell."""
    lm, cells, sources, naive = setup
    calls = []
    handle = lm.get_decoder().register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        results = evaluate(lm, sources, order_cells(cells), chunk_size=10_000)
    finally:
        handle.remove()
    assert len(calls) == len(results) == len(cells)
    assert all(r.pred_ids == naive[r.cell.key].pred_ids for r in results)


def test_prefix_cache_positions_follow_the_sequence(setup):
    """Prefill in pieces + crop + re-extend gives the same hidden state as one pass."""
    lm, cells, sources, _ = setup
    cell = max(cells, key=lambda c: c.prompt_len)
    full = cell.full_runs()
    n = total_len(full)
    with torch.inference_mode():
        pc = PrefixCache(lm, sources, chunk_size=5)
        pc.ensure(full, n - 3)
        pc.ensure(full, 11)  # crop back
        pc.ensure(full, n - 1)
        ours = pc.logits(full, n - 1, n)
        x = materialize(sources, full)[None]
        ref = lm(inputs_embeds=x).logits[0, -1:]
    assert torch.allclose(ours, ref, atol=1e-4)


def test_generate_mode_decodes_greedily(setup):
    lm, cells, sources, _ = setup
    emb = lm.get_input_embeddings()
    cell = cells[0]
    gen = GenerateConfig(
        lambda ids: emb(ids), decode=lambda ids: " ".join(map(str, ids)), max_new_tokens=3
    )
    [res] = evaluate(lm, sources, [cell], mode="generate", generate=gen)
    with torch.inference_mode():  # reference: greedy with full forwards
        x = materialize(sources, cell.runs)
        out = []
        for _ in range(3):
            tok = int(lm(inputs_embeds=x[None]).logits[0, -1].argmax())
            out.append(tok)
            x = torch.cat([x, emb(torch.tensor([tok]))])
    assert res.pred_ids == out
    assert res.text == " ".join(map(str, out))


def test_needle_rows_take_tokens_per_frame(setup):
    _, cells, _, _ = setup
    for c in cells:
        frames = c.meta["frames"]
        visual = sum(r.size for r in c.runs if r.source == "hay" or r.source.startswith("needle"))
        assert visual == (frames + 1) * TPF  # the needle is inserted, not substituted


def test_rope_theta_override_equals_a_model_built_with_that_base(setup):
    """--rope-theta: same weights, new RoPE base, as if the LM had been built with it."""
    from longva.model.rope import set_rope_theta

    lm, cells, sources, naive = setup
    fresh = tiny_lm(rope_theta=1e6)
    fresh.load_state_dict(lm.state_dict())
    overridden = tiny_lm()
    overridden.load_state_dict(lm.state_dict())
    set_rope_theta(overridden, 1e6)
    some = order_cells(cells)[:8]
    ours = evaluate(overridden, sources, some, chunk_size=16, keep_logits=True)
    ref = reference_evaluate(fresh, sources, some, keep_logits=True)
    for a, b in zip(ours, ref, strict=True):
        assert torch.allclose(a.logits, b.logits, atol=1e-4)
    assert any(not torch.allclose(a.logits, naive[a.cell.key].logits, atol=1e-3) for a in ours)
