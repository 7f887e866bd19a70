"""Task families: generators, loaders of real needle folders, placement, scoring, the builder."""

import json

import numpy as np
import pytest
import torch
from niah_helpers import DIM, TPF, VOCAB, original_layout, original_sources, tiny_lm
from PIL import Image

from longva.errors import InputError
from longva.niah.embedding_cache import FrameStore
from longva.niah.evaluator import Cell, evaluate, order_cells
from longva.niah.grid import Grid, insert_index
from longva.niah.needles import OPTION_LETTERS
from longva.niah.reference import reference_evaluate
from longva.niah.sequence import materialize
from longva.niah.tasks import TASKS, generate_task, load_task
from longva.niah.tasks.builder import build_vniah, single_items
from longva.niah.tasks.prompts import NeedlePrompt, rotations, tokenize_items
from longva.niah.tasks.spec import Insert, Question, TaskItem, TaskSet, placements
from longva.niah.tasks.summary import task_entries

OPTS = {
    "single": {},
    "multi": {"k": 3},
    "distractor": {"m": 2},
    "counting": {"max_count": 3},
    "ordering": {},
}


@pytest.mark.parametrize("task", TASKS)
def test_generator_writes_a_folder_its_loader_reads(tmp_path, task):
    folder = generate_task(task, tmp_path / task, n=3, size=32, **OPTS[task])
    tasks = load_task(folder, task)
    assert tasks.task == task and len(tasks.items) == 3
    assert all(p.is_file() and Image.open(p).size == (32, 32) for p in tasks.visuals)
    again = load_task(generate_task(task, tmp_path / "again", n=3, size=32, **OPTS[task]), task)
    assert [it.questions for it in again.items] == [it.questions for it in tasks.items]  # seeded
    for item in tasks.items:
        for q in item.questions:
            assert q.answer in (q.options or q.choices or (q.answer,))
    shape = {
        "single": (1, 1),
        "multi": (3, 3),
        "distractor": (3, 1),
        "ordering": (2, 1),
    }
    if task in shape:
        assert {(len(it.inserts), len(it.questions)) for it in tasks.items} == {shape[task]}
    if task == "counting":
        counts = [len(it.inserts) for it in tasks.items]
        assert counts == [int(it.questions[0].answer) for it in tasks.items]
        assert sorted(counts) == [1, 2, 3]
        assert all(len({i.visual for i in it.inserts}) == 1 for it in tasks.items)
    if task == "distractor":
        item = tasks.items[0]
        assert item.inserts[0].at is None and all(i.at is not None for i in item.inserts[1:])
        assert "square" in item.questions[0].text
    if task == "multi":  # each needle asked about by its own shape
        item = tasks.items[0]
        shapes = [tasks.visuals[i.visual].stem.split("_")[1] for i in item.inserts]
        assert [f"a {s}." in q.text for s, q in zip(shapes, item.questions)] == [True] * 3


def test_placements_keep_spacing_order_and_fixed_depths():
    units = 100
    multi = tuple(Insert(v, v / 3) for v in range(3))
    for depth in (0.0, 0.5, 1.0):
        ks = [k for k, _ in placements(multi, depth, units)]
        assert ks == sorted(ks) and ks[1] - ks[0] == pytest.approx(33, abs=1)
    assert [k for k, _ in placements(multi, 1.0, units)][-1] == 100
    fixed = (Insert(0), Insert(1, at=0.25), Insert(2, at=0.75))
    assert placements(fixed, 0.5, units) == [(25, 1), (50, 0), (75, 2)]
    assert placements(fixed, 0.0, units)[0] == (0, 0)
    ordering = (Insert(0, 0.0), Insert(1, 0.5))
    for depth in (0.0, 0.3, 1.0):
        (k0, first), (k1, second) = placements(ordering, depth, units)
        assert (first, second) == (0, 1) and k1 - k0 == 50


def test_loader_reads_real_needle_folders_and_clips(tmp_path):
    from longva.data.video_writer import write_video

    (tmp_path / "img").mkdir()
    for name in ("a", "b", "c"):
        Image.new("RGB", (16, 16), name.encode()[0]).save(tmp_path / "img" / f"{name}.png")
    write_video(
        tmp_path / "img" / "clip.mp4", [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)]
    )
    rows = [
        {
            "id": "x",
            "image": "img/clip.mp4",
            "count": 2,
            "question": "How many?",
            "options": ["1", "2", "3"],
            "answer": "B",
        }
    ]
    (tmp_path / "task.json").write_text(json.dumps({"task": "counting", "items": rows}))
    tasks = load_task(tmp_path, "counting")
    q = tasks.items[0].questions[0]
    assert q.answer == "2" and q.options == ("1", "2", "3")  # a letter becomes its option
    assert tasks.visuals[0].name == "clip.mp4" and len(tasks.items[0].inserts) == 2
    rows = [{"images": ["img/a.png", "img/b.png"], "names": ["the a", "the b"]}]
    (tmp_path / "task.json").write_text(json.dumps({"task": "ordering", "items": rows}))
    item = load_task(tmp_path, "ordering").items[0]
    assert item.questions[0].answer == "the a" and item.questions[0].choices == ("the a", "the b")
    rows = [
        {
            "image": "img/a.png",
            "question": "q",
            "answer": "x",
            "distractors": ["img/b.png", "img/c.png"],
            "distractor_depths": [0.1, 0.9],
        }
    ]
    (tmp_path / "task.json").write_text(json.dumps({"task": "distractor", "items": rows}))
    item = load_task(tmp_path, "distractor").items[0]
    assert [i.at for i in item.inserts] == [None, 0.1, 0.9]


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([{"image": "missing.png", "count": 2, "question": "q"}], "does not exist"),
        ([{"image": "../x.png", "count": 2, "question": "q"}], "escapes its folder"),
        ([{"image": "a.png", "count": 0, "question": "q"}], "expected an integer >= 1"),
        ([{"image": "a.png", "count": 2, "question": "q", "choices": ["5", "6"]}], "not one of"),
    ],
)
def test_loader_errors_name_the_item(tmp_path, rows, expected):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "task.json").write_text(json.dumps({"task": "counting", "items": rows}))
    with pytest.raises(InputError, match=expected):
        load_task(tmp_path, "counting")


def test_folder_without_its_json_and_unknown_task(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="has no task.json"):
        load_task(tmp_path, "multi")
    with pytest.raises(InputError, match="--task 'sorting' is unknown"):
        load_task(tmp_path, "sorting")


def test_rotations_move_every_option_through_every_letter():
    q = Question("\nWhich?", "Blue", choices=("Red", "Blue", "Green", "Pink"))
    rots = rotations(q)
    assert [a for _, a in rots] == ["B", "A", "D", "C"]
    for prompt, letter in rots:
        line = next(x for x in prompt.splitlines() if x.startswith(f"{letter}. "))
        assert line == f"{letter}. Blue"
    tasks = TaskSet("single", ("a",), (TaskItem("i", (Insert(0),), (q,)),))
    enc = lambda s: [ord(c) % 50 for c in s]  # noqa: E731
    open_q = tokenize_items(tasks, enc, enc, "exact")[0].queries
    assert len(open_q) == 1 and open_q[0].answer_text == "Blue" and not open_q[0].is_option
    mc = tokenize_items(tasks, enc, enc, "mc")[0].queries
    assert [x.meta["rotation"] for x in mc] == [0, 1, 2, 3] and all(x.is_option for x in mc)
    bare = TaskSet("single", ("a",), (TaskItem("i", (Insert(0),), (Question("q", "x"),)),))
    with pytest.raises(InputError, match="--mode mc needs options"):
        tokenize_items(bare, enc, enc, "mc")


def test_a_question_counts_only_if_every_rotation_is_right():
    grid = Grid((4,), (0.0,))
    recs = [
        {
            "frames": 4,
            "depth": 0.0,
            "item": "a",
            "question": 0,
            "rotation": r,
            "needle": r,
            "correct": True,
        }
        for r in range(4)
    ] + [
        {
            "frames": 4,
            "depth": 0.0,
            "item": "b",
            "question": 0,
            "rotation": r,
            "needle": 4 + r,
            "correct": r != 2,
        }
        for r in range(4)
    ]
    assert task_entries(recs, grid, 8) == [{"Num. Frame": 4, "Frame Depth": 0.0, "Score": 0.5}]
    assert task_entries(recs[:7], grid, 8) == []  # incomplete grid points are not scored
    plain = [{"frames": 4, "depth": 0.0, "needle": n, "correct": n == 0} for n in range(4)]
    assert task_entries(plain, grid, 4)[0]["Score"] == 0.25  # the original's mean


def test_builder_on_single_items_is_the_original_layout():
    lm = tiny_lm()
    emb = lm.get_input_embeddings()
    embed = lambda ids: emb(torch.as_tensor(ids))  # noqa: E731
    g = torch.Generator().manual_seed(0)
    hay = FrameStore.from_tensor(torch.randn(16, TPF, DIM, generator=g))
    needle_emb = torch.randn(2, TPF, DIM, generator=g)
    needles = [
        NeedlePrompt(f"n{i}", tuple(torch.randint(0, VOCAB, (4,), generator=g).tolist()), (5 + i,))
        for i in range(2)
    ]
    grid = Grid((8, 16), (0.0, 0.3, 1.0))
    pre, post = [1, 2, 3], [4, 5]
    with torch.no_grad():
        old_cells = original_layout(grid, needles, TPF, len(pre), len(post))
        old_src = original_sources(embed, pre, post, hay, needle_emb, needles)
        cells, sources = build_vniah(
            grid, single_items(needles), pre, post, hay, list(needle_emb), embed, TPF
        )
    assert cells == old_cells and [c.meta for c in cells] == [c.meta for c in old_cells]
    assert set(sources) == set(old_src)
    for c in cells:
        assert torch.equal(materialize(sources, c.full_runs()), materialize(old_src, c.full_runs()))


def test_multi_needle_cells_match_the_full_forward_and_share_the_video():
    lm = tiny_lm()
    emb = lm.get_input_embeddings()
    embed = lambda ids: emb(torch.as_tensor(ids))  # noqa: E731
    g = torch.Generator().manual_seed(3)
    hay = FrameStore.from_tensor(torch.randn(20, TPF, DIM, generator=g))
    visuals = [torch.randn(1, TPF, DIM, generator=g) for _ in range(3)]
    qs = tuple(Question(f"\nq{j}", "x") for j in range(3))
    tasks = TaskSet(
        "multi", ("a", "b", "c"), (TaskItem("m", tuple(Insert(v, v / 3) for v in range(3)), qs),)
    )
    enc = lambda s: [ord(c) % VOCAB for c in s]  # noqa: E731
    items = tokenize_items(tasks, enc, enc)
    grid = Grid((10, 20), (0.0, 0.5, 1.0))
    with torch.no_grad():
        cells, sources = build_vniah(grid, items, [1, 2], [3], hay, visuals, embed, TPF)
    assert len(cells) == 18 and all(isinstance(c, Cell) for c in cells)
    k = insert_index(0.5 / 3, 20)  # needle 0 at depth d / k
    runs = next(c for c in cells if c.meta["frames"] == 20 and c.meta["depth"] == 0.5).runs
    assert runs[1].stop == k * TPF and runs[2].source == "needle:0"
    ours = evaluate(lm, sources, order_cells(cells), chunk_size=32, keep_logits=True)
    ref = {r.cell.key: r for r in reference_evaluate(lm, sources, cells, keep_logits=True)}
    for r in ours:
        assert r.pred_ids == ref[r.cell.key].pred_ids
        assert torch.allclose(r.logits, ref[r.cell.key].logits, atol=1e-4)
    # three questions per video: the video is prefilled once per (frames, depth)
    per_video = {}
    for r in ours:
        per_video.setdefault((r.cell.meta["frames"], r.cell.meta["depth"]), []).append(r.new_tokens)
    assert all(sorted(v)[0] < 10 for v in per_video.values())


def _truth(task, tasks, item, question, depth, units):
    """What the images say the answer is (generators name files <colour>_<shape>.png)."""
    names = [tasks.visuals[i.visual].stem.split("_") for i in item.inserts]  # [colour, shape]
    if task == "counting":
        return str(len(item.inserts))
    if task == "distractor":
        return names[0][0].capitalize()  # the target is listed first
    if task == "multi":
        asked = next(s for c, s in names if f"a {s}." in question.text)
        return next(c for c, s in names if s == asked).capitalize()
    first = placements(item.inserts, depth, units)[0][1]
    return f"the {names[first][0]} {names[first][1]}"


@pytest.mark.parametrize("task", ["multi", "distractor", "counting", "ordering"])
def test_every_cell_asks_for_what_its_video_shows(tmp_path, task):
    """Through the builder, in mc mode: each cell's answer letter names the option that the
    needles actually placed in that cell's video make true."""
    tasks = load_task(generate_task(task, tmp_path, n=3, size=16, **OPTS[task]), task)
    enc = lambda s: [ord(c) % VOCAB for c in s]  # noqa: E731
    items = tokenize_items(tasks, enc, enc, "mc")
    emb = torch.nn.Embedding(VOCAB, DIM)
    hay = FrameStore.from_tensor(torch.zeros(12, TPF, DIM))
    visuals = [torch.zeros(1, TPF, DIM) for _ in tasks.visuals]
    grid = Grid((12,), (0.0, 1.0))
    with torch.no_grad():
        cells, _ = build_vniah(grid, items, [1], [2], hay, visuals, emb, TPF)
    by_item = {it.id: it for it in tasks.items}
    for cell in cells:
        item = by_item[cell.meta["item"]]
        question = item.questions[cell.meta["question"]]
        truth = _truth(task, tasks, item, question, cell.meta["depth"], 12)
        candidates = question.choices
        r = cell.meta["rotation"]
        rotated = candidates[r:] + candidates[:r]
        assert rotated[OPTION_LETTERS.index(cell.answer_text)] == truth, (task, cell.meta)
