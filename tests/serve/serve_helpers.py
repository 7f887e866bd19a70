"""Live `longva serve` processes for the tests: start on a free loopback port, wait until
/health answers, stop with SIGINT. A module of its own (not conftest) so test files can import
it by a name no other test folder uses."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

API_KEY = "test-key-123"
MODEL_NAME = "tiny-longva"
CLIP_FRAMES = 12
START_TIMEOUT_S = 180


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def wait_idle(self, timeout: float = 60) -> dict:
        """The queue snapshot once nothing runs or waits (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queue = self.health()["queue"]
            if queue["running"] == 0 and queue["waiting"] == 0:
                return queue
            time.sleep(0.1)
        raise AssertionError(f"the server did not become idle: {self.health()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, log: Path, *args, env: dict | None = None) -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "longva.cli",
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *map(str, args),
    ]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"longva serve exited with {proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise AssertionError(
        f"longva serve did not answer within {START_TIMEOUT_S} s:\n{server.log_tail()}"
    )


def stop_server(server: Server) -> int:
    server.proc.send_signal(signal.SIGINT)
    try:
        return server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        raise AssertionError(f"longva serve did not stop on SIGINT:\n{server.log_tail()}") from None
