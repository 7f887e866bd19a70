"""`longva serve` refuses bad options with one line and exit code 2, before loading anything."""

import socket
import subprocess
import sys

import pytest

from longva.cli import main


def run(capsys, *argv):
    code = main(["serve", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--model", "{tmp}/missing"], "--model"),
        (["--model", "{model}", "--allowed-root", "{tmp}/missing"], "--allowed-root"),
        (["--model", "{model}", "--port", "70000"], "--port 70000"),
        (["--model", "{model}", "--max-frames", "4", "--frames", "8"], "--frames 8"),
        (["--model", "{model}", "--max-queue", "-1"], "--max-queue"),
        (["--model", "{model}", "--log-level", "loud"], "--log-level"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, tmp_path, model_dir, argv, expected):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{model}", str(model_dir)) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1


def test_a_busy_port_is_refused_and_a_public_host_is_warned_about(capsys, model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "--model", model_dir, "--port", port)
        assert code == 2 and f"--port {port}: cannot listen there" in err
        # 0.0.0.0 on the port that loopback holds: warned, then refused (nothing ever listens)
        code, _, err = run(capsys, "--model", model_dir, "--host", "0.0.0.0", "--port", port)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2
    assert lines[0].startswith(
        "warning: --host 0.0.0.0 makes the server reachable from other machines"
    )
    assert "no --api-key" in lines[0] and lines[1].startswith("error: ")


def test_help_is_fast_and_imports_no_server_libraries():
    code = (
        "import sys; from longva.cli import main; main(['serve', '--help']);"
        "heavy = [m for m in ('torch', 'gradio', 'fastapi', 'uvicorn') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "--allowed-root" in proc.stdout and "--api-key" in proc.stdout
