"""What `longva serve` was started with: the model, where it listens, and its limits.

Limits keep one process safe on a shared machine: one generation at a time per model (the
model's memory is the bottleneck), a bounded queue (429 beyond it), capped request bodies,
frames per video, visuals per request and answer length. Local media paths are allowed only
under `allowed_root`; without one, clients send data URLs.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from longva.errors import InputError

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ServeSettings:
    model_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str | None = None  # the id clients send as "model"; default: the folder's name
    api_key: str | None = None
    allowed_root: Path | None = None  # local paths / file:// URLs must resolve inside it
    max_queue: int = 8  # requests waiting behind the running one
    max_request_bytes: int = 64 << 20
    max_frames: int = 128  # per video
    default_frames: int = 32
    max_visuals: int = 8  # videos + images per request
    max_new_tokens: int = 1024  # the most an answer may ask for (and the default)
    device: str = "cpu"
    dtype: str = "auto"
    ui: bool = True

    @property
    def name(self) -> str:
        return self.model_name or self.model_dir.resolve().name

    def validated(self) -> ServeSettings:
        """Check every option before anything is loaded; one-line errors."""
        if not self.model_dir.is_dir():
            raise InputError(
                f"--model {self.model_dir}: not a folder; expected a LongVA model folder"
            )
        if self.allowed_root is not None and not self.allowed_root.is_dir():
            raise InputError(
                f"--allowed-root {self.allowed_root}: not a folder; expected an existing folder"
            )
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port {self.port}: expected 0..65535")
        for flag, value, low in (
            ("--max-queue", self.max_queue, 0),
            ("--max-frames", self.max_frames, 1),
            ("--max-visuals", self.max_visuals, 1),
            ("--max-new-tokens", self.max_new_tokens, 1),
            ("--max-request-mb", self.max_request_bytes, 1),
        ):
            if value < low:
                raise InputError(f"{flag} {value}: expected at least {low}")
        if not 1 <= self.default_frames <= self.max_frames:
            raise InputError(
                f"--frames {self.default_frames}: expected 1..--max-frames ({self.max_frames})"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise InputError("--api-key is empty; expected a secret string or no --api-key")
        return self


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(settings: ServeSettings) -> str | None:
    """The warning printed when the server listens beyond this machine."""
    if is_loopback(settings.host):
        return None
    key = (
        "an API key is required"
        if settings.api_key
        else "no --api-key is set: anyone who can reach it can use the model"
    )
    return (
        f"--host {settings.host} makes the server reachable from other machines; {key}"
        f" (local files are readable under {settings.allowed_root or 'no folder'})"
    )


def check_port_free(host: str, port: int) -> None:
    """Fail before loading the model when the address is taken (uvicorn would fail after)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise InputError(
                f"--host {host} --port {port}: cannot listen there ({e.strerror});"
                " choose another --port"
            ) from None


def env_api_key() -> str | None:
    """LONGVA_API_KEY, so the key need not appear in the process list."""
    return os.environ.get("LONGVA_API_KEY") or None
