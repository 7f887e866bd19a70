"""Paths of the ablation test plans (a uniquely named module: `conftest` is ambiguous across test folders)."""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SEED_000 = FIXTURES / "000_0f3521004b7f0ce0.txt"
SEED_001 = FIXTURES / "001_f93b6d9aae84ce42.txt"
EXAMPLES = sorted(FIXTURES.glob("*.md"))


def shared_plans_dir() -> Path | None:
    """The shared plans folder when this checkout has one (`LONGVA_PLANS_DIR` or `<repo>/../shared/plans`)."""
    env = os.environ.get("LONGVA_PLANS_DIR")
    candidate = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "plans"
    return candidate if candidate.is_dir() else None


def all_rendered_plans() -> list[Path]:
    """The fixture copies, plus any other rendered plan in the shared folder (content-deduplicated)."""
    files = [SEED_000, SEED_001, *EXAMPLES]
    seen = {f.read_bytes() for f in files}
    shared = shared_plans_dir()
    for path in sorted(shared.rglob("*")) if shared else []:
        if path.is_file() and path.name != "README.md" and path.read_bytes() not in seen:
            seen.add(path.read_bytes())
            files.append(path)
    return files
