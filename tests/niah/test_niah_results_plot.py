"""all_accuracies.json in the original's format, heatmaps (ours and the original's files)."""

import json

import pytest
from PIL import Image

from longva.cli import main
from longva.errors import LongVAError
from longva.niah.grid import Grid
from longva.niah.layout import TEXT, VNIAH
from longva.niah.plot import load_entries, pivot
from longva.niah.results import ResultStore


def _original_file(path, layout=VNIAH, lengths=range(200, 3001, 200)):
    rows = [
        {
            layout.x_column: n,
            layout.y_column: round(d * 100, -1),
            "Score": round(((n // 200 + i) % 6) / 5, 1),
        }
        for n in lengths
        for i, d in enumerate([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0])
    ]
    path.write_text(json.dumps(rows, indent=4))
    return rows


def test_summary_is_the_originals_format(tmp_path):
    store = ResultStore(tmp_path, VNIAH)
    grid = Grid((200, 400), (0.0, 0.6, 1.0))
    for n in (200, 400):
        for d in grid.depths:
            for needle in range(2):
                store.append(
                    {"needle": needle, "frames": n, "depth": d, "correct": needle == 0 or d == 1.0}
                )
    summary = store.summarize(grid, n_needles=2)
    rows = json.loads((tmp_path / "all_accuracies.json").read_text())
    assert rows[:3] == [
        {"Num. Frame": 200, "Frame Depth": 0.0, "Score": 0.5},
        {"Num. Frame": 200, "Frame Depth": 60.0, "Score": 0.5},
        {"Num. Frame": 200, "Frame Depth": 100.0, "Score": 1.0},
    ]
    assert len(rows) == 6 and summary["complete"]
    assert (
        tmp_path / "avg_accuracy.txt"
    ).read_text() == f"Average Accuracy: {4 / 6 * 0.5 + 2 / 6}\n"
    assert Image.open(tmp_path / "heatmap.png").size == (1750, 800)


def test_incomplete_grid_points_are_left_out(tmp_path):
    store = ResultStore(tmp_path, VNIAH)
    store.append({"needle": 0, "frames": 8, "depth": 0.0, "correct": True})
    summary = store.summarize(Grid((8,), (0.0, 1.0)), n_needles=2)
    assert summary["cells"] == 0 and not summary["complete"]


def test_plot_command_redraws_the_originals_file(tmp_path):
    rows = _original_file(tmp_path / "all_accuracies.json")
    out = tmp_path / "re.png"
    assert main(["niah", "plot", str(tmp_path / "all_accuracies.json"), "--out", str(out)]) == 0
    assert Image.open(out).size == (1750, 800)
    entries, layout = load_entries(tmp_path / "all_accuracies.json")
    xs, ys, grid = pivot(entries, layout)
    assert xs[0] == 200 and ys == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert grid[2, 0] == rows[2]["Score"]


def test_plot_compare_and_text_layout(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _original_file(tmp_path / "a" / "all_accuracies.json")
    _original_file(tmp_path / "b" / "all_accuracies.json", TEXT, range(32000, 96001, 32000))
    assert load_entries(tmp_path / "b")[1] == TEXT
    out = tmp_path / "cmp.png"
    assert (
        main(
            [
                "niah",
                "plot",
                str(tmp_path / "a"),
                "--compare",
                str(tmp_path / "b"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.exists()


def test_plot_from_cells_jsonl(tmp_path):
    store = ResultStore(tmp_path, VNIAH)
    for needle in range(2):
        store.append({"needle": needle, "frames": 8, "depth": 0.5, "correct": needle == 0})
    entries, _ = load_entries(tmp_path / "cells.jsonl")
    assert entries == [{"Num. Frame": 8, "Frame Depth": 50.0, "Score": 0.5}]


@pytest.mark.parametrize("content", ["not json", json.dumps({"a": 1}), json.dumps([{"x": 1}])])
def test_bad_result_files(tmp_path, content, capsys):
    path = tmp_path / "all_accuracies.json"
    path.write_text(content)
    with pytest.raises(LongVAError):
        load_entries(path)
    assert main(["niah", "plot", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    store = ResultStore(tmp_path, VNIAH)
    store.check_run({"model": "a", "mode": "exact"})
    store.check_run({"model": "a", "mode": "exact"})  # resuming: fine
    with pytest.raises(LongVAError, match="differs in mode"):
        store.check_run({"model": "a", "mode": "generate"})
