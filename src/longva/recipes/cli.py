"""CLI commands of longva.recipes (registered into the main app by longva.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `longva` app."""
