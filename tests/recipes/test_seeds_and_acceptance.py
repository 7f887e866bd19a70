"""Seeds as an axis: parsing --seeds, mean ± CI, per-seed and over-seed acceptance, aggregation."""

import math

import pytest

from longva.errors import ConfigError
from longva.recipes.acceptance import overall_checks, seed_checks
from longva.recipes.metrics import best_theta
from longva.recipes.reproduce import parse_seeds
from longva.recipes.seed_report import aggregate, misses_table, render_markdown, rope_sweep
from longva.utils.stats import mean_ci, t975


def test_parse_seeds_count_and_list():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,2, 5") == [0, 2, 5]
    for bad in ("", "a,b", "0", "1,1", "2.5", "-1,2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_mean_ci_is_a_t_interval():
    ci = mean_ci([0.9, 1.0, 0.95])
    sd = math.sqrt(((0.9 - 0.95) ** 2 + 0.05**2) / 2)
    assert ci.mean == pytest.approx(0.95)
    assert ci.high - ci.mean == pytest.approx(t975(2) * sd / math.sqrt(3))
    assert ci.low == pytest.approx(2 * ci.mean - ci.high)
    single = mean_ci([0.5])
    assert single.low is None and single.text() == "0.500"
    assert t975(1) > t975(4) > t975(100) == 1.96


def _model(avg, far, beyond=None):
    buckets = {
        "within_s0_context": 1.0,
        "beyond_s0_context": far if beyond is None else beyond,
        "beyond_4x_s0_context": far,
    }
    return {"description": "d", "average": avg, "buckets": buckets, "by_frames": {16: avg}, "by_needle": {"0-red": avg}}


def _seed(longva, short_beyond, rope_far, theta=1e5):
    models = {
        "longva": _model(longva, longva),
        "short_lm": _model(0.5, 0.2, short_beyond),
        "short_lm_rope": {**_model(rope_far, rope_far), "rope_theta": theta},
    }
    sweep = {"1e5": {"average": rope_far, "buckets": models["short_lm_rope"]["buckets"]}}
    return {
        "models": models,
        "rope": {"theta": theta, "sweep": sweep},
        "text_niah": {},
        "stage_rates": {},
        "context": {},
    }


def test_every_seed_checks_fail_on_one_bad_seed_and_mean_checks_use_the_mean():
    per_seed = {0: _seed(1.0, 0.3, 0.7), 1: _seed(0.88, 0.3, 0.7), 2: _seed(1.0, 0.45, 0.8)}
    assert seed_checks(per_seed[1])["longva_average"]["ok"] is False
    assert seed_checks(per_seed[0])["longva_average"]["ok"] is True
    overall = overall_checks(per_seed)
    assert overall["longva_average"]["ok"] is False  # seed 1 < 0.90
    assert overall["longva_mean"]["mean"] == pytest.approx((1.0 + 0.88 + 1.0) / 3)
    assert overall["longva_mean"]["ok"] is True  # 0.96 >= 0.95
    assert overall["short_lm_beyond"]["ok"] is False  # seed 2: 0.45 > 0.40
    assert overall["short_lm_beyond"]["per_seed"] == {0: 0.3, 1: 0.3, 2: 0.45}
    gap = overall["rope_gap_beyond_4x"]
    assert gap["mean"] == pytest.approx(((1.0 - 0.7) + (0.88 - 0.7) + (1.0 - 0.8)) / 3)
    assert gap["ok"] is True and gap["rule"] == "mean"


def test_aggregate_reports_every_seed_and_the_mean():
    per_seed = {0: _seed(1.0, 0.3, 0.7, 1e5), 3: _seed(0.9, 0.3, 0.8, 3e5)}
    models = aggregate(per_seed)
    assert models["longva"]["average"]["per_seed"] == {0: 1.0, 3: 0.9}
    assert models["longva"]["average"]["mean"] == pytest.approx(0.95)
    assert models["longva"]["average"]["ci95"][0] < 0.95 < models["longva"]["average"]["ci95"][1]
    assert models["short_lm_rope"]["rope_theta"] == {0: 1e5, 3: 3e5}
    assert rope_sweep(per_seed)["1e5"]["average"]["per_seed"] == {0: 0.7, 3: 0.8}


def test_best_theta_prefers_the_far_bucket_then_the_average():
    n = lambda far, avg: {"average": avg, "buckets": {"beyond_4x_s0_context": far}}  # noqa: E731
    assert best_theta({1e5: n(0.6, 0.9), 1e6: n(0.8, 0.7), 1e7: n(0.8, 0.75)}) == 1e7
    assert best_theta({1e5: n(0.8, 0.7), 1e6: n(0.8, 0.7)}) == 1e5


def test_markdown_has_the_tables(monkeypatch):
    per_seed = {0: _seed(1.0, 0.3, 0.7), 1: _seed(0.95, 0.35, 0.75)}
    per_seed[0]["text_niah"] = per_seed[1]["text_niah"] = {"s0_text": {"by_tokens": {128: 1.0}}}
    per_seed[0]["context"] = per_seed[1]["context"] = {
        "tokens_per_frame": 4,
        "s0_text_tokens": 256,
        "s1_long_tokens": 2048,
        "longest_alignment_visual_tokens": 128,
        "longest_vniah_visual_tokens": 1796,
    }
    from longva.recipes.seed_report import build_seed_results

    md = render_markdown(build_seed_results(per_seed, {0: 10.0, 1: 12.0}))
    assert "| longva | 0.975 ± " in md
    assert "| longva | 1.000 / 1.000 | 0.950 / 0.950 |" in md
    assert "NOT MET" not in md.split("## Acceptance")[1].split("longva average ≥ 0.90")[1].splitlines()[0]
    assert "Machine: " in md and "torch" in md


def test_the_report_names_what_each_seed_answers_when_it_misses():
    guess = {"count": 160, "answers": {"pink": 0.97, "green": 0.03}}
    silent = {"count": 190, "answers": {"<|im_end|>": 1.0}}
    per_seed = {0: _seed(1.0, 0.3, 0.7), 1: _seed(1.0, 0.45, 0.7)}
    per_seed[0]["models"]["short_lm"]["misses_beyond_s0_context"] = silent
    per_seed[1]["models"]["short_lm"]["misses_beyond_s0_context"] = guess
    table = misses_table({"seeds": [0, 1], "models": aggregate(per_seed)})
    row = next(line for line in table.splitlines() if line.startswith("| short_lm |"))
    assert row == "| short_lm | <\\|im_end\\|> 100% of 190 | pink 97% of 160 |"
    assert row.replace("\\|", "").count("|") == 4  # the answer's pipes do not split the columns
    longva = next(line for line in table.splitlines() if line.startswith("| longva |"))
    assert longva == "| longva | – | – |"  # no records of misses: nothing claimed
