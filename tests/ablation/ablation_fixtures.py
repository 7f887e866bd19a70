"""Paths of the ablation test plans (a uniquely named module: `conftest` is ambiguous across test folders).

Every plan the tests read is a copy inside `fixtures/` (the two seed plans and the examples of
`../shared/plans`), so the test set is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SEED_000 = FIXTURES / "000_0f3521004b7f0ce0.txt"
SEED_001 = FIXTURES / "001_f93b6d9aae84ce42.txt"
EXAMPLES = sorted(FIXTURES.glob("*.md"))


def all_rendered_plans() -> list[Path]:
    """The seed plans and the example plans, all in rendered markdown."""
    return [SEED_000, SEED_001, *EXAMPLES]
