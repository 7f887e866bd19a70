"""The needle lands at exactly the position the original's concatenation gives it."""

import numpy as np
import pytest
import torch
from niah_helpers import TPF, tiny_lm, tiny_vniah

from longva.niah.grid import Grid, insert_index
from longva.niah.sequence import materialize
from longva.niah.tasks.builder import build_vniah, single_items
from longva.niah.text_niah import snap_after_period, text_cells

T = 10  # frames


@pytest.fixture(scope="module")
def vniah():
    lm = tiny_lm()
    cells, sources = tiny_vniah(lm, Grid((T,), (0.0, 0.5, 1.0)), n_needles=2, max_frames=T)
    return cells, sources


@pytest.mark.parametrize("depth, k", [(0.0, 0), (0.5, 5), (1.0, T)])
def test_needle_tokens_at_the_expected_positions(vniah, depth, k):
    cells, sources = vniah
    pre = len(sources["pre"])
    for cell in (c for c in cells if c.meta["depth"] == depth):
        n = cell.meta["needle"]
        seq = materialize(sources, cell.full_runs())  # (L, D)
        hay = sources["hay"].store.frames(0, T).reshape(-1, seq.shape[-1])  # (T*tpf, D)
        needle = sources[f"needle:{n}"].rows
        start = pre + k * TPF
        # original: cat(pre, hay[:k], needle, hay[k:T], question, post, answer)
        expected = torch.cat(
            [
                sources["pre"].rows,
                hay[: k * TPF],
                needle,
                hay[k * TPF :],
                sources[f"question:{n}"].rows,
                sources["post"].rows,
                sources[cell.answer_source].rows,
            ]
        )
        assert torch.equal(seq, expected)
        assert torch.equal(seq[start : start + TPF], needle)
        assert cell.prompt_len == pre + (T + 1) * TPF + len(sources[f"question:{n}"]) + len(
            sources["post"]
        )


def test_insert_index_is_int_of_depth_times_length():
    assert [insert_index(d, 200) for d in (0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0)] == [
        0,
        40,
        80,
        120,
        160,
        200,
    ]
    assert insert_index(0.29, 100) == 29  # 0.29 * 100 == 28.999999999999996 in floats
    assert insert_index(0.5, 7) == 3


def test_text_needle_goes_after_the_next_period():
    periods = np.array([3, 9, 15])
    assert snap_after_period(4, 20, periods) == 10
    assert snap_after_period(9, 20, periods) == 10
    assert snap_after_period(16, 20, periods) == 16  # no period left: stays
    assert snap_after_period(10, 12, periods) == 10  # the next period is past the limit


def test_text_cells_layout():
    from longva.niah.text_niah import Passkey

    keys = [Passkey(1234, (7, 8, 9), (4, 5))]
    periods = np.array([5, 11, 17])
    cells = text_cells(Grid((20,), (0.0, 0.5, 1.0)), keys, periods, prefix_len=3, question_len=2)
    by_depth = {c.meta["depth"]: c for c in cells}
    runs = [(r.source, r.start, r.stop) for r in by_depth[0.5].runs]
    assert runs == [
        ("prefix", 0, 3),
        ("hay", 0, 12),
        ("needle:0", 0, 3),
        ("hay", 12, 20),
        ("question", 0, 2),
    ]
    assert by_depth[0.0].runs[1].source == "needle:0"  # depth 0: the very start
    assert by_depth[1.0].runs[-2].source == "needle:0"  # depth 1: after the whole haystack
    assert all(c.prompt_len == 3 + 20 + 3 + 2 for c in cells)


def test_sources_refuse_rows_past_the_end(vniah):
    from longva.niah.sequence import Run

    _, sources = vniah
    with pytest.raises(IndexError):
        materialize(sources, [Run("hay", 0, (T + 1) * TPF)])


def test_vniah_sources_shapes():
    lm = tiny_lm()
    from longva.niah.embedding_cache import FrameStore
    from longva.niah.tasks.prompts import NeedlePrompt

    emb = lm.get_input_embeddings()
    needles = [NeedlePrompt("a", (1, 2), (3,))]
    _, src = build_vniah(
        Grid((4,), (0.0,)),
        single_items(needles),
        [1],
        [2, 3],
        FrameStore.from_tensor(torch.zeros(4, TPF, 64)),
        list(torch.ones(1, TPF, 64)),
        lambda i: emb(i),
        TPF,
    )
    assert len(src["hay"]) == 4 * TPF and len(src["post"]) == 2 and len(src["needle:0"]) == TPF
