"""Position ids from a cell's runs (M-RoPE hook): used in prefill and generation, and a cached
prefix is reused only as far as its positions agree with the new cell's."""

import torch
from niah_helpers import tiny_vniah, with_greedy_answers

from longva.niah.adapters.tiny import tiny_model, tiny_tokenizer
from longva.niah.evaluator import evaluate, order_cells
from longva.niah.grid import Grid
from longva.niah.reference import reference_evaluate
from longva.niah.sequence import total_len

GRID = Grid((8, 16), (0.0, 0.5, 1.0))


def shifted_by_length(runs):
    """3-D ids, not a function of the prefix: from token 5 on, the h and w axes jump by an
    amount that depends on the cell's total length (a uniform shift of all ids would change
    nothing: RoPE sees relative positions)."""
    n = total_len(runs)
    pos = torch.arange(n).repeat(3, 1)  # (3, L)
    pos[1:, 5:] += 1 + n % 7
    return pos[:, None]  # (3, 1, L)


def tiny_mrope_lm():
    """The text side of a tiny random Qwen2-VL (M-RoPE), hidden 64 as the helpers' embeddings."""
    from longva.niah.adapters.hf_common import text_lm

    return text_lm(tiny_model("qwen2_vl", tiny_tokenizer()))


def test_positions_reach_the_model_and_mismatching_prefixes_are_recomputed():
    lm = tiny_mrope_lm()
    cells, sources = tiny_vniah(lm, GRID, n_needles=2, max_frames=16)
    cells = with_greedy_answers(lm, sources, cells, every=2)
    ref = {
        r.cell.key: r
        for r in reference_evaluate(
            lm, sources, cells, keep_logits=True, position_fn=shifted_by_length
        )
    }
    plain = {r.cell.key: r for r in reference_evaluate(lm, sources, cells, keep_logits=True)}
    ours = evaluate(
        lm,
        sources,
        order_cells(cells),
        chunk_size=16,
        keep_logits=True,
        position_fn=shifted_by_length,
    )
    moved = 0
    for r in ours:
        torch.testing.assert_close(r.logits, ref[r.cell.key].logits, atol=1e-4, rtol=1e-4)
        moved += not torch.allclose(r.logits, plain[r.cell.key].logits, atol=1e-3)
    assert moved > 0  # the positions changed the numbers, so they were used
    # cells of one needle and length share their prefix tokens but not their positions when
    # their lengths differ mod 7: the guard recomputes them rather than reusing the cache
    ordinary = evaluate(lm, sources, order_cells(cells), chunk_size=16)
    assert sum(r.new_tokens for r in ours) > sum(r.new_tokens for r in ordinary)
