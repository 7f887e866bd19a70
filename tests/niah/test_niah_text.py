"""Text NIAH pieces: passkeys, filler, sentence ends, distractors, KV-reuse equivalence."""

import numpy as np
import pytest
import torch
from niah_helpers import tiny_lm

from longva.errors import LongVAError
from longva.model.tiny import build_tiny_tokenizer
from longva.niah.evaluator import evaluate, order_cells
from longva.niah.grid import Grid
from longva.niah.reference import reference_evaluate
from longva.niah.text_niah import (
    NEEDLE_FORMAT,
    load_filler,
    make_distractors,
    make_passkeys,
    period_ids,
    synthetic_filler,
    text_cells,
    text_sources,
)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_passkeys_and_filler(tok, tmp_path):
    keys = make_passkeys(tok, 3, digits=7, seed=1)
    assert len({k.number for k in keys}) == 3
    assert tok.decode(list(keys[0].needle_ids)) == NEEDLE_FORMAT.format(keys[0].number)
    assert tok.decode(list(keys[0].answer_ids)) == str(keys[0].number)
    assert (
        synthetic_filler(5, seed=2) == synthetic_filler(5, seed=2)
        and synthetic_filler(5).count(".") == 5
    )
    assert len(load_filler("synthetic", tok, 500)) >= 500
    (tmp_path / "a.txt").write_text("Short essay. ")
    assert len(load_filler(tmp_path, tok, 100)) == 100  # repeated until long enough
    with pytest.raises(LongVAError):
        load_filler(tmp_path / "missing.txt", tok, 10)


def test_period_tokens_end_with_a_dot(tok):
    dots = period_ids(tok, len(tok))
    assert dots and all(tok.convert_ids_to_tokens(i).endswith(".") for i in dots)


def test_distractors_sit_in_every_cell_and_scores_match_the_naive_forward(tok):
    lm = tiny_lm(vocab=len(tok))
    emb = lm.get_input_embeddings()
    hay = load_filler("synthetic", tok, 200)
    dots = period_ids(tok, len(tok))
    periods = np.array([i for i, t in enumerate(hay[:200]) if t in dots])
    keys = make_passkeys(tok, 2, digits=3)
    fracs, dids = make_distractors(tok, 2, digits=3)
    cells = text_cells(
        Grid((100, 200), (0.0, 0.5, 1.0)),
        keys,
        periods,
        4,
        5,
        [(f, len(i)) for f, i in zip(fracs, dids, strict=True)],
    )
    assert all(sum(r.source.startswith("distractor") for r in c.runs) == 2 for c in cells)
    sources = text_sources(lambda i: emb(i), hay, [1, 2, 3, 4], [5, 6, 7, 8, 9], keys, dids)
    ours = evaluate(lm, sources, order_cells(cells), chunk_size=32, keep_logits=True)
    ref = {r.cell.key: r for r in reference_evaluate(lm, sources, cells, keep_logits=True)}
    for r in ours:
        assert r.pred_ids == ref[r.cell.key].pred_ids
        assert torch.allclose(r.logits, ref[r.cell.key].logits, atol=1e-4)


def test_niah_text_cli_errors(text_model_dir, tmp_path, capsys):
    from longva.cli import main

    base = ["niah-text", "--model", str(text_model_dir), "--out", str(tmp_path)]
    assert main([*base, "--lengths", "3000:200:200"]) == 2
    assert main([*base, "--lengths", "64", "--samples", "0"]) == 2
    assert (
        main(
            [
                "niah-text",
                "--model",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path),
                "--lengths",
                "64",
            ]
        )
        == 2
    )
    errs = [li for li in capsys.readouterr().err.splitlines() if li.strip()]
    assert len(errs) == 3 and all(e.startswith("error:") for e in errs)
