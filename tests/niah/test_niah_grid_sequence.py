"""Grid specs, run algebra and the trie order."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longva.errors import LongVAError
from longva.niah.grid import make_grid, parse_depths, parse_lengths
from longva.niah.sequence import (
    Run,
    common_prefix_len,
    dfs_order,
    normalize,
    slice_runs,
    total_len,
    truncate,
)


def test_original_grid():
    grid = make_grid(None, None, "original")
    assert grid.lengths == tuple(range(200, 3001, 200)) and len(grid.lengths) == 15
    assert grid.depths == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert len(grid.points()) == 90


def test_specs():
    assert parse_lengths("8,16, 4") == (4, 8, 16)
    assert parse_lengths("5") == (5,)
    assert parse_lengths("200:1000:300") == (200, 500, 800)  # stop off-step: not included
    assert parse_depths("0:1:0.1")[3] == 0.3 and len(parse_depths("0:1:0.1")) == 11


@pytest.mark.parametrize("spec", ["3000:200:200", "200:3000:0", "a:b:c", "1:2", "0", "-5,10", ""])
def test_bad_length_specs_are_one_line_errors(spec):
    with pytest.raises(LongVAError) as e:
        parse_lengths(spec)
    assert "\n" not in str(e.value) and "--frames" in str(e.value)


def test_reversed_spec_suggests_the_fix():
    with pytest.raises(LongVAError, match="expected start <= stop .e.g. 200:3000:200"):
        parse_lengths("3000:200:200")


@pytest.mark.parametrize("spec", ["0:2:0.5", "-0.1,0.5", "1:0:0.2"])
def test_bad_depth_specs(spec):
    with pytest.raises(LongVAError):
        parse_depths(spec)


def test_unknown_preset():
    with pytest.raises(LongVAError, match="preset"):
        make_grid(None, None, "huge")


def test_normalize_and_prefix():
    a = normalize([Run("p", 0, 3), Run("h", 0, 4), Run("h", 4, 8), Run("x", 0, 0), Run("n", 0, 2)])
    assert a == (Run("p", 0, 3), Run("h", 0, 8), Run("n", 0, 2))
    b = normalize([Run("p", 0, 3), Run("h", 0, 5), Run("n", 0, 2)])
    assert common_prefix_len(a, b) == 8
    assert common_prefix_len(a, a) == total_len(a) == 13
    assert truncate(a, 5) == (Run("p", 0, 3), Run("h", 0, 2))
    assert slice_runs(a, 2, 12) == (Run("p", 2, 3), Run("h", 0, 8), Run("n", 0, 1))


def _tokens(runs):
    return [(r.source, i) for r in runs for i in range(r.start, r.stop)]


runs_strategy = st.lists(
    st.tuples(st.sampled_from("abc"), st.integers(0, 4), st.integers(0, 4)).map(
        lambda t: Run(t[0], t[1], t[1] + t[2])
    ),
    min_size=1,
    max_size=4,
).map(normalize)


@settings(max_examples=60, deadline=None)
@given(st.lists(runs_strategy, min_size=2, max_size=8))
def test_run_prefix_equals_token_prefix_and_dfs_groups_every_prefix(seqs):
    seqs = [s for s in seqs if s]
    for a, b in itertools.combinations(seqs, 2):
        ta, tb = _tokens(a), _tokens(b)
        n = 0
        while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
            n += 1
        assert common_prefix_len(a, b) == n
    order = [_tokens(seqs[i]) for i in dfs_order(seqs)]
    # trie DFS: the sequences sharing any token prefix are contiguous in the order
    for seq in order:
        for p in range(1, len(seq) + 1):
            hits = [i for i, s in enumerate(order) if s[:p] == seq[:p]]
            assert hits == list(range(hits[0], hits[-1] + 1))
