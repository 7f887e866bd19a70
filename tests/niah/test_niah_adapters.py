"""Every adapter: the evaluator's verdicts and answer logits equal the model's own full forward.

Each family is a tiny random model built from a config here (transformers' own classes), run on
a multi-needle task (two needles per video, two questions each, so cells share prefixes and
KV reuse, chunked prefill and insertion all play) over a small grid. The yardstick feeds token
ids with the model's video placeholders + pixel values to the model's `forward` (its own vision
path, feature merging, newline and M-RoPE position ids) and takes full logits. Half of the cells
get the model's own greedy answer, so verdicts are a mix of right and wrong.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from longva.niah.adapters.base import TextLM
from longva.niah.adapters.case import build_case
from longva.niah.adapters.native import cell_pieces, native_evaluate
from longva.niah.adapters.tiny import tiny_adapter
from longva.niah.evaluator import evaluate, order_cells
from longva.niah.grid import Grid
from longva.niah.sequence import text_source
from longva.niah.tasks.spec import Insert, Question, TaskItem, TaskSet

FAMILIES = ["longva", "llava_onevision", "llava_next_video", "qwen2_vl", "qwen2_5_vl"]
GRID = Grid((4, 8), (0.0, 0.5, 1.0))


def longva_adapter():
    from longva.model.modeling_longva import LongVAForCausalLM
    from longva.model.processor import LongVAProcessor
    from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config
    from longva.niah.adapters.longva import from_model

    torch.manual_seed(0)
    tok = build_tiny_tokenizer()
    cfg = tiny_longva_config(len(tok))
    model = LongVAForCausalLM(cfg).eval()
    return from_model(model, LongVAProcessor(tok, cfg))


def adapter_of(family):
    return longva_adapter() if family == "longva" else tiny_adapter(family)[0]


def two_needle_task() -> TaskSet:
    questions = (Question("\nWhat colour is the square?", "Red"), Question("\nWhich digit?", "7"))
    item = TaskItem("pair", (Insert(0, 0.0), Insert(1, 0.5)), questions)
    return TaskSet("multi", ("a.png", "b.png"), (item,))


def frames(rng, n, hw):
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]


def with_greedy(adapter, case, native):
    """Every other cell answers with the model's own next token (a 1-token answer)."""
    cells = []
    for i, (cell, res) in enumerate(zip(case.cells, native, strict=True)):
        if i % 2:
            cells.append(cell)
            continue
        token = res.pred_ids[0]
        name = f"greedy:{i}"
        case.sources[name] = text_source([token], adapter.embed_text)
        case.raw[name] = [token]
        cells.append(replace(cell, answer_ids=(token,), answer_source=name))
    return cells


@pytest.fixture(scope="module", params=FAMILIES)
def family_case(request):
    torch.set_num_threads(1)
    adapter = adapter_of(request.param)
    rng = np.random.default_rng(0)
    hay = frames(rng, 8, (32, 40))  # 16:10 frames: resizing and Qwen's smart_resize matter
    needles = [frames(rng, 1, (36, 36)), frames(rng, 1, (30, 30))]
    case = build_case(adapter, two_needle_task(), GRID, hay, needles)
    first = native_evaluate(adapter, case.cells, case.sources, case.raw)
    case.cells = with_greedy(adapter, case, first)
    native = native_evaluate(adapter, case.cells, case.sources, case.raw, keep_logits=True)
    return request.param, adapter, case, native


def test_verdicts_and_logits_equal_the_models_own_forward(family_case):
    family, adapter, case, native = family_case
    ours = evaluate(
        adapter.lm,
        case.sources,
        order_cells(case.cells),
        chunk_size=16,
        keep_logits=True,
        position_fn=adapter.position_fn(case.sources),
    )
    by_key = {r.cell.key: r for r in ours}
    assert len(by_key) == len(native) == 12
    verdicts = [r.correct for r in native]
    assert any(verdicts) and not all(verdicts), verdicts  # a mix, so equality means something
    for ref in native:
        mine = by_key[ref.cell.key]
        assert mine.correct == ref.correct and mine.pred_ids == ref.pred_ids, (family, ref.cell.key)
        torch.testing.assert_close(mine.logits, ref.logits, atol=2e-4, rtol=1e-4)
    # KV reuse happened: the second question of a video only prefills its own tokens
    assert sum(r.new_tokens for r in ours) < sum(r.cell.prompt_len for r in ours)


def test_native_inputs_have_the_cells_length_and_one_video(family_case):
    family, adapter, case, _ = family_case
    for cell in case.cells[:3]:
        pieces = cell_pieces(
            cell, case.sources, case.raw, adapter.tokens_per_unit, adapter.frames_per_unit
        )
        videos = [p for p in pieces if not isinstance(p, list)]
        units = cell.meta["frames"] // adapter.frames_per_unit + 2  # haystack + two needles
        assert len(videos) == 1 and len(videos[0].frames) == units * adapter.frames_per_unit
        length = sum(p.tokens if not isinstance(p, list) else len(p) for p in pieces)
        assert length == cell.prompt_len + len(cell.answer_ids)


def test_qwen_positions_are_mrope_and_prefix_determined():
    adapter = tiny_adapter("qwen2_vl")[0]
    rng = np.random.default_rng(1)
    case = build_case(
        adapter,
        two_needle_task(),
        GRID,
        frames(rng, 8, (32, 32)),
        [frames(rng, 1, (32, 32)), frames(rng, 1, (32, 32))],
    )
    positions = adapter.position_fn(case.sources)
    a, b = case.cells[0], case.cells[1]  # same video, two questions
    pa, pb = positions(a.full_runs()), positions(b.full_runs())
    assert pa.shape[0] == 3 and not torch.equal(pa[0], pa[1])  # t, h, w differ on video tokens
    shared = a.prompt_len - len(case.raw["question:0"]) - len(case.raw["post"])
    assert torch.equal(pa[..., :shared], pb[..., :shared])


def test_text_lm_view_is_the_models_text_side():
    adapter, model, _ = tiny_adapter("llava_onevision")
    assert isinstance(adapter.lm, TextLM)
    assert adapter.lm.get_decoder() is model.model.language_model
    assert adapter.lm.config is model.config.text_config


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl", "llava_onevision"])
def test_generate_mode_equals_the_models_own_generate(family):
    """Greedy decoding through the reused cache = transformers' `generate` on raw inputs.

    For Qwen2.5-VL the video's time-scaled t ids run past the text after it, so "the next
    position" is ambiguous (last + 1 or max + 1); generate uses last + 1, and so must we."""
    from longva.niah.evaluator import GenerateConfig

    adapter, model, tok = tiny_adapter(family)
    rng = np.random.default_rng(2)
    grid = Grid((16,), (0.0, 1.0))
    case = build_case(
        adapter,
        two_needle_task(),
        grid,
        frames(rng, 16, (32, 32)),
        [frames(rng, 1, (32, 32)), frames(rng, 1, (32, 32))],
    )
    positions = adapter.position_fn(case.sources)
    if family == "qwen2_5_vl":
        pos = positions(case.cells[0].runs)
        assert int(pos.max()) > int(pos[0, 0, -1])  # the case this test is about
    gen = GenerateConfig(adapter.embed_text, adapter.decode, (), max_new_tokens=4)
    ours = evaluate(
        adapter.lm,
        case.sources,
        order_cells(case.cells),
        mode="generate",
        generate=gen,
        position_fn=positions,
    )
    for r in ours:
        pieces = cell_pieces(
            r.cell, case.sources, case.raw, adapter.tokens_per_unit, adapter.frames_per_unit
        )[:-1]  # the prompt, without the answer
        inputs = adapter.native_inputs(pieces)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=4, do_sample=False, eos_token_id=None)
        assert r.pred_ids == out[0, inputs["input_ids"].shape[1] :].tolist(), (family, r.cell.key)
