from longva.recipes.cache import StageDir, stage_key
from longva.recipes.config import RecipeConfig
from longva.recipes.metrics import miss_text, vniah_numbers
from longva.utils.dataclass_config import set_path


def test_stage_key_depends_only_on_what_the_stage_reads():
    cfg = RecipeConfig()
    pooled = set_path(cfg, "model.pooling.kernel", 3)
    s0 = lambda c: stage_key("s0_text", {"lm": c.model.lm, "stage": c.stages.s0_text})  # noqa: E731
    s2 = lambda c: stage_key("s2_align", {"pooling": c.model.pooling}, {"lm": s0(c)})  # noqa: E731
    assert s0(cfg) == s0(pooled)  # a pooling variant reuses the text LM
    assert s2(cfg) != s2(pooled)
    assert stage_key("x", {"a": 1}, {"up": "k1"}) != stage_key("x", {"a": 1}, {"up": "k2"})


def test_stage_dir_finishes_atomically(tmp_path):
    sd = StageDir(tmp_path, "s", "abc")
    work = sd.begin()
    (work / "file").write_text("x")
    assert not sd.done
    sd.finish({"ok": 1})
    assert sd.done and (sd.final / "file").read_text() == "x" and not sd.partial.exists()
    assert sd.info() == {"ok": 1}


def test_vniah_numbers_buckets_by_visual_tokens():
    cells = [{"frames": t, "correct": ok} for t, ok in [(8, True), (8, True), (64, False), (64, True), (128, False)]]
    nums = vniah_numbers(cells, tpf=9, s0_context=256)
    assert nums["average"] == 3 / 5
    assert nums["by_frames"] == {8: 1.0, 64: 0.5, 128: 0.0}
    assert nums["bucket_frames"]["within_s0_context"] == [8]  # (8+1)*9 = 81 <= 256
    assert nums["buckets"]["beyond_s0_context"] == 1 / 3
    assert nums["bucket_frames"]["beyond_4x_s0_context"] == [128]  # 129*9 = 1161 > 1024


def test_misses_beyond_the_s0_context_count_each_answer():
    cells = [{"frames": 8, "correct": False, "pred": "red"}]  # within the context: not counted
    cells += [{"frames": 64, "correct": False, "pred": " pink"} for _ in range(3)]
    cells += [{"frames": 128, "correct": False, "pred": "<|im_end|>"}, {"frames": 128, "correct": True, "pred": "cyan"}]
    misses = vniah_numbers(cells, tpf=9, s0_context=256)["misses_beyond_s0_context"]
    assert misses == {"count": 4, "answers": {"pink": 0.75, "<|im_end|>": 0.25}}
    assert miss_text(misses) == "pink 75% of 4"
    assert miss_text({"count": 0, "answers": {}}) == "–"


def test_a_fixed_guess_is_left_out_of_the_other_needles_accuracy():
    """A model that answers pink whenever it is lost: its pink needle scores 1.0 at every length."""
    colours = ["red", "pink", "cyan", "blue"]
    cells = [{"frames": 8, "correct": True, "answer": c, "pred": c} for c in colours]  # within the context
    for frames in (64, 128):
        cells += [{"frames": frames, "correct": c == "pink", "answer": c, "pred": "pink"} for c in colours]
    cells.append({"frames": 128, "correct": True, "answer": "red", "pred": "red"})  # one it reads
    nums = vniah_numbers(cells, tpf=9, s0_context=256)
    assert nums["buckets"]["beyond_s0_context"] == 3 / 9
    assert nums["beyond_s0_context_other_needles"] == 1 / 7  # the pink cells are left out
    assert miss_text(nums["misses_beyond_s0_context"], nums["beyond_s0_context_other_needles"]) == (
        "pink 100% of 6; others 0.14"
    )
    silent = [dict(c, pred="<|im_end|>", correct=False) for c in cells if c["frames"] > 8]
    assert vniah_numbers(silent, tpf=9, s0_context=256)["beyond_s0_context_other_needles"] == 0.0  # nothing left out
