"""What a number was measured on: CPU model, core count and library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, cores, OS and the versions of the libraries the numbers depend on."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
    }


def machine_line(info: dict) -> str:
    """One readable line: 'AMD EPYC, 2 cores; torch 2.13.0+cpu, transformers 5.24.0, Python 3.11.7'."""
    return (f"{info['cpu']}, {info['cores']} cores; torch {info['torch']}, transformers"
            f" {info['transformers']}, Python {info['python']}")
