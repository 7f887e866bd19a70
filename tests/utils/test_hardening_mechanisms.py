"""The shared mechanisms behind issue 16: bounded numbers, strict text, output checks, atomic
folders, progress lines off a terminal, and a light `longva` start."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from longva.errors import InputError
from longva.utils.io import atomic_dir
from longva.utils.numbers import FRACTION, POSITIVE, POSITIVE_INT, Bounds, number_list, parse_number
from longva.utils.paths import filesystem_problem, input_file, output_dir, output_file
from longva.utils.progress import LineProgress, make_progress
from longva.utils.text_input import decode_text, read_json, stdin_lines, text_arg

# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, bounds, value", [
    ("3", POSITIVE_INT, 3), (" 7 ", POSITIVE_INT, 7), ("2.0", POSITIVE_INT, 2), ("0.5", FRACTION, 0.5),
    ("1e3", POSITIVE, 1000.0), (4, POSITIVE_INT, 4),
])
def test_parse_number_accepts_finite_values_in_range(text, bounds, value):
    got = parse_number(text, "--x", bounds)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text, bounds, words", [
    ("nan", POSITIVE, "not finite"), ("-inf", Bounds(), "not finite"), ("0", POSITIVE, "out of range"),
    ("1.5", POSITIVE_INT, "not a whole number"), ("ten", POSITIVE_INT, "not a number"),
    ("1.01", FRACTION, "out of range"), (True, POSITIVE_INT, "expected"),
])
def test_parse_number_refuses_with_one_line_naming_the_option(text, bounds, words):
    with pytest.raises(InputError) as err:
        parse_number(text, "--x", bounds)
    assert str(err.value).startswith("--x") and words in str(err.value) and "\n" not in str(err.value)


def test_number_list_ranges_include_stop_despite_float_noise():
    assert number_list("0:1:0.1", "--depths", FRACTION, round_to=6)[-1] == 1.0
    assert len(number_list("0:1:0.1", "--depths", FRACTION)) == 11
    assert number_list("200:1000:200", "--frames", POSITIVE_INT) == [200, 400, 600, 800, 1000]
    assert number_list("8, 16", "--frames", POSITIVE_INT) == [8, 16]


def test_number_list_counts_a_huge_range_before_building_it():
    with pytest.raises(InputError, match="makes 1,000,000,000,000,000 values"):
        number_list("1:1e15:1", "--frames", POSITIVE_INT)  # would need petabytes if built


# -- text ----------------------------------------------------------------------------------------


def test_decode_text_drops_a_bom_and_refuses_binary_and_latin1():
    assert decode_text("\ufeffhé".encode(), "x") == "hé"
    with pytest.raises(InputError, match="binary .a NUL byte at offset 2."):
        decode_text(b"ab\0cd", "--haystack 'v.mp4'")
    with pytest.raises(InputError, match="byte 0xe9 at offset 3"):
        decode_text("café".encode("latin-1"), "config")


def test_text_arg_finds_the_bytes_python_escaped_from_argv():
    assert text_arg("naïve", "q") == "naïve"
    with pytest.raises(InputError, match="byte 0xff at character 2"):
        text_arg("ab\udcff", "the question")


def test_stdin_lines_decode_strictly_with_the_offset_from_the_start():
    stream = io.TextIOWrapper(io.BytesIO(b"one\r\ntwo\nthr\xffee\n"))
    lines = stdin_lines(stream)
    assert next(lines) == "one" and next(lines) == "two"
    with pytest.raises(InputError, match="byte 0xff at offset 12"):
        next(lines)


def test_read_json_names_the_top_level_kind(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="holds a list; expected a UTF-8 JSON file holding a JSON object"):
        read_json(path, "config.json")
    path.write_text('{"a": 1}')
    assert read_json(path, "config.json") == {"a": 1}


# -- output and input locations ------------------------------------------------------------------


def test_output_dir_accepts_a_new_nested_folder_without_creating_it(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert output_dir(target, "--out") == target
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []  # the probe is gone too


def test_output_checks_tell_file_from_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="--out '.*f' is a file"):
        output_dir(tmp_path / "f", "--out")
    with pytest.raises(InputError, match="is a folder; expected a .png"):
        output_file(tmp_path, "--out", "a .png")
    with pytest.raises(InputError, match="is a folder"):
        input_file(tmp_path, "--haystack")
    with pytest.raises(InputError, match="does not exist"):
        input_file(tmp_path / "nope", "--haystack")


def test_filesystem_problem_reports_a_full_or_read_only_filesystem(tmp_path, monkeypatch):
    assert filesystem_problem(tmp_path) is None
    real = os.statvfs

    def full(path):
        fields = list(real(path))
        fields[4] = 0  # f_bavail
        return os.statvfs_result(fields)

    monkeypatch.setattr(os, "statvfs", full)
    assert "is full (0 bytes free)" in filesystem_problem(tmp_path)


# -- atomic folders ------------------------------------------------------------------------------


def test_atomic_dir_replaces_a_folder_only_when_the_writer_finishes(tmp_path):
    final = tmp_path / "final"
    with atomic_dir(final) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "model.safetensors").write_bytes(b"v1")
        assert not final.exists()  # nothing visible while writing
    assert (final / "model.safetensors").read_bytes() == b"v1"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "config.json").write_text('{"half": true}')
        raise RuntimeError("killed mid-save")
    assert (final / "config.json").read_text() == "{}" and (final / "model.safetensors").read_bytes() == b"v1"
    with atomic_dir(final) as tmp:
        (tmp / "model.safetensors").write_bytes(b"v2")
    assert sorted(p.name for p in final.iterdir()) == ["model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["final"]  # no temporary folders left
    assert oct(final.stat().st_mode & 0o777) != oct(0o700)  # not mkdtemp's private mode


# -- progress off a terminal ---------------------------------------------------------------------


def test_progress_off_a_terminal_prints_a_line_per_interval_with_rate_and_eta(capsys, monkeypatch):
    monkeypatch.delenv("LONGVA_PROGRESS", raising=False)
    monkeypatch.setenv("LONGVA_PROGRESS_INTERVAL", "0")  # every update
    from rich.progress import TextColumn

    progress = make_progress(TextColumn("{task.fields[rate]} tok/s"))
    assert isinstance(progress, LineProgress)  # stderr is captured: not a terminal
    with progress:
        task = progress.add_task("V-NIAH", total=4, rate="-")
        for i in range(4):
            progress.update(task, advance=1, rate=f"{100 * (i + 1)}")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("V-NIAH: 1/4 (25%)") and lines[-1].startswith("V-NIAH: 4/4 (100%)")
    assert "eta" in lines[1] and lines[1].endswith("200 tok/s") and "elapsed" in lines[-1]
    assert len(lines) == 4


def test_a_short_job_off_a_terminal_prints_nothing_and_0_silences(capsys, monkeypatch):
    monkeypatch.delenv("LONGVA_PROGRESS", raising=False)
    monkeypatch.setenv("LONGVA_PROGRESS_INTERVAL", "3600")
    with make_progress() as progress:
        task = progress.add_task("train", total=3)
        for _ in range(3):
            progress.advance(task)
    monkeypatch.setenv("LONGVA_PROGRESS", "0")
    monkeypatch.setenv("LONGVA_PROGRESS_INTERVAL", "0")
    with make_progress() as progress:
        task = progress.add_task("train", total=3)
        progress.advance(task)
    assert capsys.readouterr().err == ""


# -- the command line starts light ---------------------------------------------------------------


def test_longva_help_imports_no_heavy_library():
    code = (
        "import sys; from longva.cli import main; rc = main(['--help']);"
        "heavy = [m for m in ('torch', 'transformers', 'numpy', 'PIL', 'av') if m in sys.modules];"
        "assert not heavy, heavy; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "niah-text" in proc.stdout and "reproduce" in proc.stdout
